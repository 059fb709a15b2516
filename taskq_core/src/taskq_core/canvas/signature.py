"""Signatures and the canvas: ``add.s(2, 2)``, ``chain``, ``group``, ``chord`` (Celery's names).

A signature is a task call that has not been sent: the task, some arguments and options. Sending
a canvas freezes it (:func:`freeze`: every message id chosen, each message's flow written in its
header, see :mod:`taskq_core.canvas.nodes`) and writes its first messages, and any chord
records, in one atomic broker step (``start_flow``). Everything after happens in the workers,
each follow-up written in the same atomic step as the ack of the step before it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from taskq_core.canvas.nodes import NO_PARENT, Node, plan
from taskq_core.context import lineage
from taskq_core.errors import ConfigurationError
from taskq_core.result import AsyncResult, GroupResult
from taskq_core.schemas import MAX_PRIORITY, MIN_PRIORITY, new_message_id, tuples_to_lists

if TYPE_CHECKING:
    from taskq_core.app import Taskq
    from taskq_core.task import Task

#: Options a signature keeps (``set`` and ``apply_async`` take them).
OPTIONS = frozenset(
    {"queue", "priority", "countdown", "task_id", "link", "link_error", "max_retries"}
)

Handle = AsyncResult | GroupResult


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
        shape = self._with(args or (), kwargs or {}, options)
        app = shape.app
        node, handle = freeze(shape)
        app.broker.start_flow(plan(node, NO_PARENT, app.clock.now(), lineage()))
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


def freeze(
    shape: Canvas,
    *,
    after: Sequence[Node] = (),
    member: dict[str, Any] | None = None,
    errbacks: Sequence[Node] = (),
    fail: Sequence[str] = (),
) -> tuple[Node, Handle]:
    """Choose every id of ``shape`` and describe it as a node; returns the node and handle.

    Args:
        shape: The workflow.
        after: Nodes sent with ``shape``'s result when it completes.
        member: Chord membership of ``shape``'s last step.
        errbacks: Signature nodes sent (with the failed step's id) when a step dies.
        fail: Result ids that get a FAILURE when a step of ``shape`` dies.
    """
    errbacks = [*errbacks, *(_sig_node(e)[0] for e in shape.options.get("link_error", ()))]
    links = [freeze(link)[0] for link in shape.options.get("link", ())]
    after = [*after, *links]
    if isinstance(shape, Signature):
        return _sig_node(shape, after=after, member=member, errbacks=errbacks, fail=fail)
    if isinstance(shape, group):
        frozen = [
            freeze(m, after=after, errbacks=errbacks, fail=fail, member=member) for m in shape.tasks
        ]
        return {"t": "g", "members": [n for n, _ in frozen]}, GroupResult([h for _, h in frozen])
    if isinstance(shape, chord):
        return _chord_node(shape, after, member, errbacks, fail)
    if isinstance(shape, chain):
        return _chain_node(shape, after, member, errbacks, fail)
    raise ConfigurationError(f"cannot send {shape!r}: not a signature, chain, group or chord")


def _sig_node(
    sig: Canvas,
    *,
    after: Sequence[Node] = (),
    member: dict[str, Any] | None = None,
    errbacks: Sequence[Node] = (),
    fail: Sequence[str] = (),
) -> tuple[Node, AsyncResult]:
    if not isinstance(sig, Signature):
        raise ConfigurationError(f"link_error must be a signature, not {sig!r}")
    task, options = sig.task, sig.options
    priority = options.get("priority", task.priority)
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise ConfigurationError(f"priority must be {MIN_PRIORITY}-{MAX_PRIORITY}, got {priority}")
    queue = options.get("queue") or task.app.route(task)
    node: Node = {
        "t": "s",
        "task": task.name,
        "id": options.get("task_id") or new_message_id(),
        "args": tuples_to_lists(list(sig.args)),
        "kwargs": tuples_to_lists(sig.kwargs),
        "queue": queue,
        "priority": priority,
        "max_deliveries": task.max_deliveries,
        "imm": sig.immutable,
    }
    if options.get("max_retries") is not None:
        node["max_retries"] = options["max_retries"]
    if options.get("countdown"):
        node["countdown"] = float(options["countdown"])
    flow: dict[str, Any] = {}
    if after:
        flow["next"] = list(after)
    if errbacks:
        flow["errbacks"] = list(errbacks)
    if member is not None:
        flow["chord"] = member
    if fail:
        flow["fail"] = [i for i in fail if i != node["id"]]
    if flow:
        node["flow"] = flow
    return node, AsyncResult(node["id"], task.app, queue)


def _chain_node(
    shape: chain,
    after: Sequence[Node],
    member: dict[str, Any] | None,
    errbacks: Sequence[Node],
    fail: Sequence[str],
) -> tuple[Node, Handle]:
    steps = _normalized(shape.tasks)
    last_node, last = freeze(steps[-1], after=after, member=member, errbacks=errbacks, fail=fail)
    final = list(fail) or _ids(last)
    node, handles = last_node, [last]
    for step in reversed(steps[:-1]):
        node, handle = freeze(step, after=[node], errbacks=errbacks, fail=final)
        handles.insert(0, handle)
    for earlier, later in itertools.pairwise(handles):
        if isinstance(later, AsyncResult) and later.parent is None:
            later.parent = earlier
    return node, last


def _chord_node(
    shape: chord,
    after: Sequence[Node],
    member: dict[str, Any] | None,
    errbacks: Sequence[Node],
    fail: Sequence[str],
) -> tuple[Node, Handle]:
    body_node, body = freeze(shape.body, after=after, member=member, errbacks=errbacks, fail=fail)
    if body_node["t"] != "s":
        raise ConfigurationError("a chord's callback must be a signature or a chain")
    callback = {
        key: body_node[key] for key in ("id", "task", "queue", "priority", "max_deliveries")
    }
    chord_errbacks = list(errbacks)
    final = list(fail) or _ids(body)
    members: list[Node] = []
    handles: list[Handle] = []
    for index, item in enumerate(_flat(shape.header.tasks)):
        info: dict[str, Any] = {"cb": callback, "index": index}
        if chord_errbacks:
            info["errbacks"] = chord_errbacks
        if final != [callback["id"]]:
            info["fail"] = final
        node, handle = freeze(item, member=info)
        members.append(node)
        handles.append(handle)
    header = GroupResult(handles)
    first = body if isinstance(body, AsyncResult) else None
    walk = first
    while walk is not None and walk.parent is not None:
        walk = walk.parent if isinstance(walk.parent, AsyncResult) else None
    if walk is not None:
        walk.parent = header
    return {"t": "c", "body": body_node, "members": members}, body


def _normalized(steps: Sequence[Canvas]) -> list[Canvas]:
    """Chain steps with every group that is followed by a step turned into a chord."""
    result: list[Canvas] = []
    rest = list(steps)
    while rest:
        step = rest.pop(0)
        if isinstance(step, group) and rest:
            following = rest.pop(0)
            if isinstance(following, group):
                raise ConfigurationError("a group followed by a group cannot be chained")
            step = chord(step, following)
        result.append(step)
    return result


def _flat(members: Sequence[Canvas]) -> list[Canvas]:
    """A chord header's members, nested groups flattened into it."""
    flat: list[Canvas] = []
    for item in members:
        flat += _flat(item.tasks) if isinstance(item, group) and not item.options else [item]
    return flat


def _ids(handle: Handle) -> list[str]:
    if isinstance(handle, GroupResult):
        return [i for r in handle.results for i in _ids(r)]
    return [handle.id]
