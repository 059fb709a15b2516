"""Every hook taskq calls, in one place (pluggy project ``taskq``).

Rules shared by all hooks:

* Names are ``taskq_`` + noun + past-tense verb for events, an imperative for commands.
* Event hooks fired *after* a state change (``after_send``, ``task_succeeded``, ``task_dead`` ...)
  are called through :func:`taskq_core.plugins.notify`, which logs and swallows plugin errors: a
  broken metrics plugin must never undo an ack or crash a worker.
* ``taskq_before_send`` and ``taskq_task_execute`` propagate exceptions: they can veto or wrap.
* Hooks are synchronous and run on the thread named in each docstring.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from taskq_core.app import Taskq
    from taskq_core.broker import BaseBroker
    from taskq_core.schemas import Delivery, Message, RecoveryReport, WorkerInfo
    from taskq_core.task import Task

PROJECT = "taskq"

hookspec = pluggy.HookspecMarker(PROJECT)


#: Signature of the callback given to :func:`taskq_register_backends`.
BackendFactory = Callable[..., "BaseBroker"]
RegisterBackend = Callable[[str, BackendFactory], None]

# -- discovery ---------------------------------------------------------------------------------


@hookspec
def taskq_register_backends(register: RegisterBackend) -> None:
    """Call ``register(scheme, factory)`` for every URL scheme this plugin serves.

    ``factory(url, **options)`` returns a :class:`~taskq_core.broker.BaseBroker`. Import heavy
    dependencies inside the factory, not at module import: every plugin module is imported when
    the registry is first used.
    """


@hookspec
def taskq_app_configured(app: Taskq) -> None:
    """An app was created (caller's thread).

    Not historic on purpose: pluggy would keep every app ever built alive to replay it to
    plugins registered later. A plugin registered after the app exists can take the app itself.
    """


# -- producer (caller's thread) ------------------------------------------------------------------


@hookspec
def taskq_before_send(message: Message) -> None:
    """A message is about to be written. Raise :class:`~taskq_core.errors.Reject` to refuse it."""


@hookspec
def taskq_after_send(message: Message, eta: float | None) -> None:
    """A send call returned (``eta`` is set for scheduled sends).

    Fires also when the broker already knew the id (an idempotent re-send wrote nothing).
    """


# -- task lifecycle (worker's pool thread) -------------------------------------------------------


@hookspec
def taskq_task_started(delivery: Delivery) -> None:
    """A delivery is about to execute."""


@hookspec(firstresult=True)
def taskq_task_execute(delivery: Delivery, task: Task[..., Any]) -> object:
    """Run the task and return its result; stops at the first non-None result.

    Core provides the ``trylast`` implementation that calls the function. Plugins wrap it with
    ``@hookimpl(wrapper=True)`` and ``result = yield`` (tracing, context, timing). Exceptions
    propagate: they are the task's failure.
    """


@hookspec
def taskq_task_succeeded(delivery: Delivery, result: object, runtime: float) -> None:
    """A delivery finished and was acked (``runtime`` in seconds)."""


@hookspec
def taskq_task_retried(delivery: Delivery, error: str, delay: float) -> None:
    """A delivery failed and will run again after ``delay`` seconds."""


@hookspec
def taskq_task_dead(message: Message, reason: str) -> None:
    """A message was moved to DEAD by this worker (retries exhausted, unknown task ...)."""


@hookspec
def taskq_deliveries_settled(outcomes: Sequence[tuple[Delivery, str]]) -> None:
    """Deliveries a worker stopped holding, each with its outcome, once the broker answered.

    Each outcome is a :class:`~taskq_core.worker.outcome.Outcome`, a ``str``: ``acked``,
    ``retried``, ``dead``, ``postponed`` (rate limit), ``revoked``, ``expired``, ``lost`` (the
    lease was lost, or the child process running it died) or ``error`` (the broker failed while
    settling; the lease brings the message back). Fires on the settling thread: the pool
    thread, or the acker's for coalesced acks, in batches. Unlike ``taskq_task_succeeded``,
    implementing it does not make a pool thread wait for its coalesced ack.
    """


# -- worker lifecycle (worker's control threads) -------------------------------------------------


@hookspec
def taskq_worker_started(worker: WorkerInfo) -> None:
    """A worker began consuming."""


@hookspec
def taskq_worker_heartbeat(worker: WorkerInfo) -> None:
    """A worker recorded its heartbeat and renewed its leases (heartbeat thread)."""


@hookspec
def taskq_worker_stopping(worker: WorkerInfo, reason: str) -> None:
    """A worker is shutting down (``reason``: ``signal`` or ``stop()``)."""


@hookspec
def taskq_leases_recovered(queue: str, report: RecoveryReport) -> None:
    """The reaper handed expired leases back (reaper thread); fired only when it moved some."""
