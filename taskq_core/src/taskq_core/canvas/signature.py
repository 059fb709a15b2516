"""Signatures and the canvas: ``add.s(2, 2)``, ``chain``, ``group``, ``chord`` (Celery's names).

A signature is a task call that has not been sent: the task, some arguments and options. Sending
a canvas freezes it (:func:`~taskq_core.canvas.freeze.freeze`: every message id chosen, each
message's flow written in its header, see :mod:`taskq_core.canvas.nodes`) and writes its first
messages, and any chord records, in one atomic broker step (``start_flow``). Everything after
happens in the workers, each follow-up written in the same atomic step as the ack of the step
before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from taskq_core.canvas.nodes import NO_PARENT, plan
from taskq_core.capabilities import Workflows
from taskq_core.context import lineage
from taskq_core.errors import ConfigurationError
from taskq_core.result import AsyncResult, GroupResult

if TYPE_CHECKING:
    from taskq_core.app import Taskq
    from taskq_core.task import Task

#: Options a signature keeps (``set`` and ``apply_async`` take them).
OPTIONS = frozenset(
    {"queue", "priority", "countdown", "task_id", "link", "link_error", "max_retries"}
)

Handle = AsyncResult[Any] | GroupResult


class Canvas:
    """What every workflow shape shares: options, ``|``, ``delay`` and ``apply_async``."""

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options: dict[str, Any] = {}
        self.set(**(options or {}))

    @property
    def app(self) -> Taskq:
        """The app of the first task in the shape."""
        raise NotImplementedError

    def set(self, **options: Any) -> Canvas:
        """Set options and return this canvas.

        Options: ``queue``, ``priority``, ``countdown``, ``task_id``, ``link``, ``link_error``
        (a signature or a list of them), ``max_retries``.

        Raises:
            ConfigurationError: an unknown option.
        """
        unknown = set(options) - OPTIONS
        if unknown:
            raise ConfigurationError(
                f"unknown signature option(s): {', '.join(sorted(unknown))} "
                f"(known: {', '.join(sorted(OPTIONS))})"
            )
        for name in ("link", "link_error"):
            if name in options and isinstance(options[name], Canvas):
                options[name] = [options[name]]
        self.options.update(options)
        return self

    def __or__(self, other: Canvas) -> chain:
        return chain(self, other)

    def delay(self, *args: Any, **kwargs: Any) -> Any:
        """Send with extra arguments; shorthand for ``apply_async(args, kwargs)``."""
        return self.apply_async(args, kwargs)

    def apply_async(
        self,
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Any:
        """Send the workflow; returns its handle (``AsyncResult`` or ``GroupResult``).

        ``args`` are prepended to the first steps' arguments (as Celery's partials) and
        ``kwargs`` merged into them; ``options`` as for :meth:`set`.
        """
        from taskq_core.canvas.freeze import freeze

        shape = self._with(args or (), kwargs or {}, options)
        app = shape.app
        node, handle = freeze(shape)
        workflows = Workflows.require(app.broker, "a chain, group, chord or link=")
        workflows.start_flow(plan(node, NO_PARENT, app.clock.now(), lineage()))
        return handle

    def _with(self, args: Sequence[Any], kwargs: Mapping[str, Any], options: Any) -> Canvas:
        """This shape with call-time arguments and options (a copy when there are any)."""
        raise NotImplementedError


class Signature(Canvas):
    """One task call, not sent yet: ``add.s(2, 2)``, ``add.si(2, 2)`` (immutable).

    A mutable signature in a chain or chord receives the previous result as its first
    argument; an immutable one (``si``) keeps exactly its own arguments.
    """

    def __init__(
        self,
        task: Task[..., Any],
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        immutable: bool = False,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.task = task
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})
        self.immutable = immutable
        super().__init__(options)

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.task.name}{'.si' if self.immutable else '.s'}({', '.join(parts)})"

    @property
    def app(self) -> Taskq:
        """The task's app."""
        return self.task.app

    def clone(self, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None) -> Signature:
        """A copy with ``args`` before its own, ``kwargs`` merged, and the options copied.

        As Celery's partials: ``add.s(2).delay(8)`` calls ``add(8, 2)``.
        """
        return Signature(
            self.task,
            (*args, *self.args),
            {**self.kwargs, **(kwargs or {})},
            immutable=self.immutable,
            options=dict(self.options),
        )

    def _with(self, args: Sequence[Any], kwargs: Mapping[str, Any], options: Any) -> Canvas:
        if not args and not kwargs and not options:
            return self
        return self.clone(args, kwargs).set(**options)


class chain(Canvas):
    """Steps run one after another, each result the first argument of the next.

    ``apply_async`` returns the last step's handle; ``.parent`` walks back through the steps.
    A group followed by another step becomes a chord, as in Celery.
    """

    def __init__(self, *tasks: Canvas | Iterable[Canvas], **options: Any) -> None:
        steps: list[Canvas] = []
        for item in tasks:
            if isinstance(item, Canvas):
                steps += item.tasks if isinstance(item, chain) and not item.options else [item]
            else:
                steps += list(item)
        if not steps:
            raise ConfigurationError("a chain needs at least one step")
        self.tasks: list[Canvas] = steps
        super().__init__(options)

    def __repr__(self) -> str:
        return " | ".join(repr(step) for step in self.tasks)

    @property
    def app(self) -> Taskq:
        """The first step's app."""
        return self.tasks[0].app

    def _with(self, args: Sequence[Any], kwargs: Mapping[str, Any], options: Any) -> Canvas:
        if not args and not kwargs and not options:
            return self
        first = self.tasks[0]._with(args, kwargs, {})
        return chain(first, *self.tasks[1:], **{**self.options, **options})


class group(Canvas):
    """Members run in parallel; ``apply_async`` returns a ``GroupResult`` (call order)."""

    def __init__(self, *tasks: Canvas | Iterable[Canvas], **options: Any) -> None:
        members: list[Canvas] = []
        for item in tasks:
            members += [item] if isinstance(item, Canvas) else list(item)
        self.tasks = members
        super().__init__(options)

    def __repr__(self) -> str:
        return f"group({', '.join(repr(member) for member in self.tasks)})"

    @property
    def app(self) -> Taskq:
        """The first member's app."""
        if not self.tasks:
            raise ConfigurationError("an empty group has no app to send it with")
        return self.tasks[0].app

    def _with(self, args: Sequence[Any], kwargs: Mapping[str, Any], options: Any) -> Canvas:
        if not args and not kwargs and not options:
            return self
        members = [member._with(args, kwargs, {}) for member in self.tasks]
        return group(members, **{**self.options, **options})


class chord(Canvas):
    """A group (the header) and a callback (the body) run once with every member's result.

    The callback receives the list of member results in call order as its first argument.
    ``apply_async`` returns the callback's handle; its ``.parent`` is the header's
    ``GroupResult``. A member that ends in DEAD fails the chord: the callback does not run, its
    result is a FAILURE naming the member, and ``link_error`` callbacks run with the member's
    id; requeuing the dead member (``taskq dead requeue``) lets the chord complete.
    """

    def __init__(
        self, header: Canvas | Iterable[Canvas], body: Canvas | None = None, **options: Any
    ) -> None:
        self.header = header if isinstance(header, group) else group(header)
        if body is None:
            raise ConfigurationError("a chord needs a callback: chord(header, callback.s())")
        self.body = body
        super().__init__(options)

    def __repr__(self) -> str:
        return f"chord({self.header!r}, {self.body!r})"

    @property
    def app(self) -> Taskq:
        """The callback's app."""
        return self.body.app

    def __call__(self, body: Canvas) -> chord:
        """``chord(header)(callback.s())``: Celery's spelling; builds the chord (not sent)."""
        return chord(self.header, body, **self.options)

    def _with(self, args: Sequence[Any], kwargs: Mapping[str, Any], options: Any) -> Canvas:
        if not args and not kwargs and not options:
            return self
        header = self.header._with(args, kwargs, {})
        return chord(header, self.body, **{**self.options, **options})
