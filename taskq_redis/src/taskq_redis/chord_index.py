"""Open chords of a queue on Redis: the index flow.lua keeps, read by chords.lua.

flow.lua adds a chord's callback id to the callback queue's ``Q:chords`` when it creates the
join record, and moves it to ``Q:chords_failed`` when a member's burial fails the chord, or
removes it from both when the last member's ack sends the callback, each in the same script
call as the state change. Reading a page of them is one chords.lua call (one round trip).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from taskq_core.capabilities.chord_index import (
    ChordDetail,
    ChordMember,
    ChordView,
    MemberStatus,
    OpenChords,
)
from taskq_core.errors import MessageDecodeError
from taskq_core.schemas import Message
from taskq_redis.codec import optional_float, text
from taskq_redis.failures import reports_lost_connection

if TYPE_CHECKING:
    from collections.abc import Sequence

    from taskq_redis.keys import QueueKeys
    from taskq_redis.store import Store

#: Values per chord in a chords.lua reply.
_ROW = 7


def chord_index_keys(keys: QueueKeys) -> tuple[str, str]:
    """``Q:chords`` (waiting chords) and ``Q:chords_failed`` of a queue."""
    return f"{keys.base}:chords", f"{keys.base}:chords_failed"


def list_open_chords(store: Store, queue: str, *, limit: int) -> OpenChords:
    """The newest ``limit`` waiting and failed chords of ``queue``; one round trip."""
    total, waiting, failed = store.redis.call(
        "chords", list(chord_index_keys(store.keys(queue))), [store.now_arg(), "list", limit]
    )
    return OpenChords(
        waiting=_views(queue, waiting), waiting_total=int(total), failed=_views(queue, failed)
    )


def chord_info(
    store: Store, queue: str, chord_id: str, *, offset: int, limit: int
) -> ChordDetail | None:
    """The open chord ``chord_id`` with a window of its members; one round trip."""
    offset, limit = max(0, offset), max(0, limit)
    keys = list(chord_index_keys(store.keys(queue)))
    reply = store.redis.call("chords", keys, [store.now_arg(), "info", chord_id, offset, limit])
    if reply is None:
        return None
    view = _view(queue, reply[:_ROW])
    ids_text = text(reply[_ROW])
    ids: list[str] = json.loads(ids_text) if ids_text else []
    members = []
    for position, flag in enumerate(text(reply[_ROW + 1])):
        index = offset + position
        member_id = ids[index] if index < len(ids) else ""
        status: MemberStatus
        if flag == "1":
            status = "done"
        elif member_id and member_id == view.failed_by:
            status = "failed"
        else:
            status = "waiting"
        members.append(ChordMember(index=index, id=member_id, status=status))
    return ChordDetail(chord=view, members=members)


def _views(queue: str, flat: Sequence[Any]) -> list[ChordView]:
    return [_view(queue, flat[i : i + _ROW]) for i in range(0, len(flat), _ROW)]


def _view(queue: str, row: Sequence[Any]) -> ChordView:
    chord_id, created, size, done, failed_by, callback, failed_at = (text(v) for v in row)
    return ChordView(
        id=chord_id,
        queue=queue,
        task=_task_of(callback),
        size=int(size),
        done=int(done),
        failed_by=failed_by or None,
        created_at=optional_float(created) or 0.0,
        failed_at=optional_float(failed_at),
    )


def _task_of(callback: str) -> str:
    """The callback's task name ('' when its stored payload cannot be read)."""
    try:
        return Message.from_json(callback).task
    except MessageDecodeError:
        return ""


class ChordIndexOperations:
    """The open-chord reads of :class:`~taskq_redis.broker.RedisBroker` (this module's functions).

    A part of the broker: it runs on the broker's store (``_store``).
    """

    _store: Store

    @reports_lost_connection
    def list_open_chords(self, queue: str, *, limit: int = 100) -> OpenChords:
        """The newest waiting and failed chords of ``queue``: one chords.lua call."""
        return list_open_chords(self._store, queue, limit=limit)

    @reports_lost_connection
    def chord_info(
        self, queue: str, chord_id: str, *, offset: int = 0, limit: int = 100
    ) -> ChordDetail | None:
        """The open chord ``chord_id`` with a window of its members: one chords.lua call."""
        return chord_info(self._store, queue, chord_id, offset=offset, limit=limit)
