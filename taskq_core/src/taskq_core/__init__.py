"""taskq: a distributed task queue for Python.

The public API lives here; everything else is an implementation module with one job.
"""

from __future__ import annotations

import importlib.metadata

from taskq_core.app import Taskq
from taskq_core.backends import connect, register_backend
from taskq_core.broker import BaseBroker
from taskq_core.canvas import Signature, chain, chord, group
from taskq_core.clock import SYSTEM_CLOCK, Clock, FakeClock, SystemClock
from taskq_core.context import Request, current_task
from taskq_core.errors import (
    BrokerFullError,
    BrokerUnavailable,
    ConfigurationError,
    MessageDecodeError,
    MissingCapability,
    PartialSendError,
    Reject,
    ResultTimeout,
    Retry,
    SerializationError,
    SignatureMismatch,
    SoftTimeLimitExceeded,
    TaskError,
    TaskExpired,
    TaskqError,
    TaskRevoked,
    TimeLimitExceeded,
    UnknownBackend,
    UnknownTask,
)
from taskq_core.plugins import hookimpl
from taskq_core.result import AsyncResult, GroupResult
from taskq_core.schemas import (
    DeadLetter,
    Delivery,
    Message,
    QueueCounts,
    RecoveryReport,
    TaskResult,
    WorkerInfo,
)
from taskq_core.task import Task
from taskq_core.worker import Worker

#: The installed taskq-core distribution's version, read from its package metadata.
__version__ = importlib.metadata.version("taskq-core")

__all__ = [
    "SYSTEM_CLOCK",
    "AsyncResult",
    "BaseBroker",
    "BrokerFullError",
    "BrokerUnavailable",
    "Clock",
    "ConfigurationError",
    "DeadLetter",
    "Delivery",
    "FakeClock",
    "GroupResult",
    "Message",
    "MessageDecodeError",
    "MissingCapability",
    "PartialSendError",
    "QueueCounts",
    "RecoveryReport",
    "Reject",
    "Request",
    "ResultTimeout",
    "Retry",
    "SerializationError",
    "Signature",
    "SignatureMismatch",
    "SoftTimeLimitExceeded",
    "SystemClock",
    "Task",
    "TaskError",
    "TaskExpired",
    "TaskResult",
    "TaskRevoked",
    "Taskq",
    "TaskqError",
    "TimeLimitExceeded",
    "UnknownBackend",
    "UnknownTask",
    "Worker",
    "WorkerInfo",
    "__version__",
    "chain",
    "chord",
    "connect",
    "current_task",
    "group",
    "hookimpl",
    "register_backend",
]
