"""The result store: task results and informational task states, kept by message id.

``ack`` and ``dead`` of the core can hand a :class:`~taskq_core.schemas.TaskResult` over in the
same round trip; a broker that is a :class:`ResultStore` keeps it, one that is not drops it.
``get_result`` waits for a result without polling, for any number of waiters that start before
or after it is stored. ``AsyncResult.get()`` and ``forget()`` need this capability.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

from taskq_core.broker import DEFAULT_RESULT_TTL
from taskq_core.capabilities.base import Capability

if TYPE_CHECKING:
    from taskq_core.progress import TaskState
    from taskq_core.schemas import TaskResult


class ResultStore(Capability):
    """Capability: keep task results (and task states) by message id."""

    offers = "a result store"

    @abc.abstractmethod
    def store_result(self, result: TaskResult, *, ttl: float = DEFAULT_RESULT_TTL) -> None:
        """Keep ``result`` under its id for ``ttl`` seconds, replacing any earlier one.

        Wakes every :meth:`get_result` waiting for that id.
        """

    @abc.abstractmethod
    def get_result(self, message_id: str, *, timeout: float | None = 0.0) -> TaskResult | None:
        """The stored result of ``message_id``, waiting up to ``timeout`` real seconds for it.

        ``timeout=0`` does not wait; ``None`` waits until it arrives. Waits without polling; any
        number of waiters receive the same result, whether they started before or after it was
        stored. ``None`` when there is none (yet, or any more: it expired or was forgotten).
        """

    @abc.abstractmethod
    def forget_result(self, message_id: str) -> None:
        """Delete the stored result of ``message_id``, if any."""

    def set_task_state(self, state: TaskState, *, ttl: float = DEFAULT_RESULT_TTL) -> None:
        """Keep ``state`` (STARTED, RETRY, progress) under its id for ``ttl`` seconds.

        Informational: the latest write wins and nothing is fenced. A stored result takes
        precedence over it for ``AsyncResult.status``. A backend that keeps no task states
        ignores it (this default), and then tasks show PENDING until their result exists.
        """

    def get_task_state(self, message_id: str) -> TaskState | None:
        """The latest :meth:`set_task_state` of ``message_id`` still kept, or ``None``."""
        return None
