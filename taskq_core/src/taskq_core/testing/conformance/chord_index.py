"""The open-chord index (:class:`~taskq_core.capabilities.ChordIndex`), an optional capability.

A chord is listed under its callback's queue from the step that creates it; it leaves the
waiting list in the same step as the member ack that sends its callback, and moves to the
failed list in the same step as the burial that fails it. Skipped, loudly, for a backend that
does not offer the capability.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import pytest

from taskq_core.canvas import chord
from taskq_core.capabilities import ResultStore, Workflows
from taskq_core.capabilities.chord_index import FAILED_KEPT, INDEX_RETENTION, ChordIndex
from taskq_core.testing.conformance.base import (
    OTHER_WORKER,
    ConformanceBase,
    lose_lease,
    reserve_one,
)
from taskq_core.testing.conformance.workflows import Flow

if TYPE_CHECKING:
    from taskq_core.clock import FakeClock
    from taskq_core.testing.conformance.base import Broker, Requires


class ChordIndexTests(ConformanceBase):
    """``list_open_chords`` and ``chord_info``."""

    requires: ClassVar[Requires] = (ChordIndex, Workflows, ResultStore)

    @pytest.fixture
    def flow(self, broker: Broker, queue_name: str) -> Flow:
        return Flow(broker, queue_name)

    @staticmethod
    def index(flow: Flow) -> ChordIndex:
        assert isinstance(flow.broker, ChordIndex)
        return flow.broker

    def test_open_chord_is_listed_with_its_progress_until_its_callback_is_sent(
        self, flow: Flow, clock: FakeClock
    ) -> None:
        index = self.index(flow)
        result = chord([flow.add.s(i, i) for i in range(3)], flow.tsum.s()).delay()
        listing = index.list_open_chords(flow.queue)
        assert listing.waiting_total == 1
        assert listing.failed == []
        [view] = listing.waiting
        assert (view.id, view.queue, view.task) == (result.id, flow.queue, flow.tsum.name)
        assert (view.size, view.done, view.state) == (3, 0, "waiting")
        assert view.created_at == pytest.approx(clock.now())

        delivery = reserve_one(flow.broker, flow.queue)
        assert flow.success(delivery, 0)
        [view] = index.list_open_chords(flow.queue).waiting
        assert view.done == 1
        detail = index.chord_info(flow.queue, result.id)
        assert detail is not None
        assert [m.id for m in detail.members] == [h.id for h in result.parent.results]
        statuses = {m.id: m.status for m in detail.members}
        assert statuses == {
            h.id: "done" if h.id == delivery.id else "waiting" for h in result.parent.results
        }

        flow.run()  # the other members, then the callback
        assert result.get(timeout=0) == 6
        listing = index.list_open_chords(flow.queue)
        assert (listing.waiting, listing.waiting_total, listing.failed) == ([], 0, [])
        assert index.chord_info(flow.queue, result.id) is None

    def test_chain_member_is_listed_by_its_last_step(self, flow: Flow) -> None:
        result = chord([flow.add.s(1, 1) | flow.mul.s(3), flow.add.s(2, 2)], flow.tsum.s()).delay()
        detail = self.index(flow).chord_info(flow.queue, result.id)
        assert detail is not None
        assert [m.id for m in detail.members] == [h.id for h in result.parent.results]

    def test_dead_member_moves_the_chord_to_failed_and_a_requeue_completes_it(
        self, flow: Flow, clock: FakeClock
    ) -> None:
        index = self.index(flow)
        result = chord([flow.add.s(1, 1), flow.boom.s(1)], flow.tsum.s()).delay()
        flow.run()
        listing = index.list_open_chords(flow.queue)
        assert (listing.waiting, listing.waiting_total) == ([], 0)
        [view] = listing.failed
        dead_member = result.parent.results[1].id
        assert (view.id, view.state, view.failed_by, view.done) == (
            result.id,
            "failed",
            dead_member,
            1,
        )
        assert view.failed_at == pytest.approx(clock.now())
        detail = index.chord_info(flow.queue, result.id)
        assert detail is not None
        assert [m.status for m in detail.members] == ["done", "failed"]

        assert flow.broker.requeue_dead(flow.queue) == 1
        assert flow.success(reserve_one(flow.broker, flow.queue), 5)
        flow.run()
        assert result.get(timeout=0) == 7
        listing = index.list_open_chords(flow.queue)
        assert (listing.waiting, listing.failed) == ([], [])

    def test_member_redelivered_after_its_worker_died_completes_the_chord_once(
        self, flow: Flow, clock: FakeClock
    ) -> None:
        index = self.index(flow)
        result = chord([flow.add.s(1, 1)], flow.tsum.s()).delay()
        first = reserve_one(flow.broker, flow.queue)
        lose_lease(flow.broker, clock, first)  # its worker died mid-run
        again = reserve_one(flow.broker, flow.queue, worker_id=OTHER_WORKER)
        assert not flow.success(first, 2)  # fenced out: the chord is unchanged
        assert [v.done for v in index.list_open_chords(flow.queue).waiting] == [0]
        assert flow.success(again, 2)
        listing = index.list_open_chords(flow.queue)
        assert (listing.waiting_total, listing.failed) == (0, [])
        assert index.chord_info(flow.queue, result.id) is None

    def test_listing_is_bounded_newest_first_and_counts_every_waiting_chord(
        self, flow: Flow, clock: FakeClock
    ) -> None:
        ids = []
        for i in range(5):
            ids.append(chord([flow.add.s(i, i)], flow.tsum.s()).delay().id)
            clock.advance(1.0)
        listing = self.index(flow).list_open_chords(flow.queue, limit=2)
        assert listing.waiting_total == 5
        assert [v.id for v in listing.waiting] == [ids[4], ids[3]]

    def test_chord_is_listed_under_its_callback_queue(self, flow: Flow, other_queue: str) -> None:
        result = chord([flow.add.s(1, 1)], flow.tsum.s().set(queue=other_queue)).delay()
        index = self.index(flow)
        assert index.list_open_chords(flow.queue).waiting_total == 0
        assert [v.id for v in index.list_open_chords(other_queue).waiting] == [result.id]
        assert index.chord_info(flow.queue, result.id) is None
        assert index.chord_info(other_queue, result.id) is not None

    def test_member_window_of_a_big_chord(self, flow: Flow) -> None:
        result = chord([flow.add.s(i, i) for i in range(30)], flow.tsum.s()).delay()
        detail = self.index(flow).chord_info(flow.queue, result.id, offset=25, limit=10)
        assert detail is not None
        assert [m.index for m in detail.members] == [25, 26, 27, 28, 29]
        assert [m.id for m in detail.members] == [h.id for h in result.parent.results[25:]]

    def test_chord_that_can_never_complete_leaves_the_index_after_the_retention(
        self, flow: Flow, clock: FakeClock
    ) -> None:
        chord([flow.add.s(1, 1)], flow.tsum.s()).delay()
        assert flow.broker.purge(flow.queue) == 1  # its only member is gone
        clock.advance(INDEX_RETENTION / 2)
        assert self.index(flow).list_open_chords(flow.queue).waiting_total == 1
        clock.advance(INDEX_RETENTION / 2 + 1.0)
        listing = self.index(flow).list_open_chords(flow.queue)
        assert (listing.waiting, listing.waiting_total) == ([], 0)

    def test_failed_chords_kept_are_bounded(self, flow: Flow, clock: FakeClock) -> None:
        ids = []
        for i in range(FAILED_KEPT + 1):
            ids.append(chord([flow.boom.s(i)], flow.tsum.s()).delay().id)
            flow.run()
            clock.advance(1.0)
        failed = self.index(flow).list_open_chords(flow.queue, limit=FAILED_KEPT + 10).failed
        assert len(failed) == FAILED_KEPT
        assert [v.id for v in failed] == ids[:0:-1]  # newest first; the oldest is pushed out
