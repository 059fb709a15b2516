"""What a backend may offer beyond the core queue contract of :class:`~taskq_core.BaseBroker`.

The rule: the core is the queue itself, its four states (READY, SCHEDULED, PROCESSING, DEAD) and
every move between them, with the reads that count them. Each capability is one feature beside
the queue that an option, an app call, the CLI or the dashboard opts into. A backend subclasses
``BaseBroker`` and, for each capability it offers, that capability's class; the conformance suite
runs the themed test classes of exactly those, and the feature's entry point checks for it with
``Capability.require``, e.g. ``ResultStore.require(broker, "result.get()")``; code
that can do without one asks ``isinstance(broker, WorkerRegistry)``. :class:`FullBroker` is the
core with every capability, the base of taskq's own backends.

Each capability, its methods, and what needs it:

* :class:`ResultStore`: ``store_result``, ``get_result``, ``forget_result`` (and task states);
  ``result.get()``, ``forget()``.
* :class:`RateLimiter`: ``acquire_rate_limit``; ``rate_limit=``.
* :class:`WorkerRegistry`: ``send_heartbeat``, ``list_alive_workers``, ``forget_worker``,
  ``expire_dead_workers``; crash recovery before leases run out, worker lists.
* :class:`Revocation`: ``revoke``, ``wait_terminations``; ``revoke()``, ``taskq revoke``.
* :class:`QueueControl`: ``pause``, ``resume``, ``paused``, ``set_queue_limit``; ``pause()``,
  ``queue_limits``.
* :class:`Inspection`: ``history``, ``queue_stats``, ``message_info``; the dashboard.
* :class:`UniqueSends`: ``send_unique``; ``unique_for=``, ``unique_key=``.
* :class:`PeriodicTicks`: ``claim_tick``, ``last_tick``; periodic schedules.
* :class:`Workflows`: ``ack_and_continue``, ``dead_and_continue``, ``start_flow``; chains,
  groups, chords, links.
* :class:`ChordIndex`: ``list_open_chords``, ``chord_info``; the dashboard's Workflows page.
* :class:`AsyncProducing`: ``async_producer``; ``adelay``, ``aget``.
"""

from __future__ import annotations

from taskq_core.broker import BaseBroker
from taskq_core.capabilities.base import Capability
from taskq_core.capabilities.chord_index import ChordIndex
from taskq_core.capabilities.control import QueueControl, Revocation, RevokeOutcome
from taskq_core.capabilities.inspection import Inspection
from taskq_core.capabilities.liveness import WorkerRegistry, heartbeat_gap
from taskq_core.capabilities.producing import AsyncProducing, PeriodicTicks, UniqueSends
from taskq_core.capabilities.rate_limits import RateLimiter
from taskq_core.capabilities.results import ResultStore
from taskq_core.capabilities.workflows import Workflows


class FullBroker(
    BaseBroker,
    ResultStore,
    RateLimiter,
    WorkerRegistry,
    Revocation,
    QueueControl,
    Inspection,
    UniqueSends,
    PeriodicTicks,
    Workflows,
    ChordIndex,
    AsyncProducing,
):
    """The core contract and every capability: the base of a backend that offers them all."""


#: Every capability, in the order the docs list them.
ALL_CAPABILITIES: tuple[type[Capability], ...] = tuple(
    base for base in FullBroker.__bases__ if issubclass(base, Capability)
)

__all__ = [
    "ALL_CAPABILITIES",
    "AsyncProducing",
    "Capability",
    "ChordIndex",
    "FullBroker",
    "Inspection",
    "PeriodicTicks",
    "QueueControl",
    "RateLimiter",
    "ResultStore",
    "Revocation",
    "RevokeOutcome",
    "UniqueSends",
    "WorkerRegistry",
    "Workflows",
    "heartbeat_gap",
]
