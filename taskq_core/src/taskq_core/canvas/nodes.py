"""Frozen workflows as JSON nodes, and what a node sends when its turn comes.

A workflow is frozen once, at the producer: every message id is chosen up front (so handles and
``.parent`` are known before anything runs), and each message carries, in its
:data:`FLOW_HEADER`, what follows it: the ``next`` nodes to send with its result, its ``chord``
membership, its ``errbacks`` and the result ids that ``fail`` with it. The worker turns that
header and the step's outcome into a :class:`~taskq_core.canvas.effects.Continuation`
(:func:`on_success`, :func:`on_failure`), which the broker applies with the step's ack.

Nodes (plain JSON dicts):

* ``{"t": "s", "task", "id", "args", "kwargs", "queue", "priority", "max_deliveries",
  "imm", ["max_retries"], ["countdown"], ["flow"]}``: one message.
* ``{"t": "g", "members": [node, ...]}``: every member, each with the parent's result.
* ``{"t": "c", "body": node, "members": [node, ...]}``: a chord: its join record (the body's
  first message is the callback), then its members.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pydantic_core import to_json

from taskq_core.canvas.effects import CHORD_RESULTS, ChordJoin, ChordSpec, Continuation
from taskq_core.context import ETA_HEADER, PARENT_HEADER, ROOT_HEADER
from taskq_core.schemas import Message, TaskResult

if TYPE_CHECKING:
    from collections.abc import Mapping

    from taskq_core.schemas import Delivery

#: The message header holding a step's flow (JSON); only workflow messages have it.
FLOW_HEADER = "taskq-flow"

Node = dict[str, Any]

#: "No parent result": the first messages of a workflow and of ``start_flow``.
NO_PARENT: Any = object()


def message_of(
    node: Node, parent: Any, now: float, lineage: Mapping[str, str] | None = None
) -> tuple[Message, float | None]:
    """The message of a signature node, with ``parent`` as first argument unless immutable.

    ``lineage`` holds the parent and root headers (see :mod:`taskq_core.context`).
    """
    args = list(node["args"])
    if parent is not NO_PARENT and not node["imm"]:
        args.insert(0, parent)
    fields: dict[str, Any] = {
        "id": node["id"],
        "task": node["task"],
        "args": tuple(args),
        "kwargs": node["kwargs"],
        "queue": node["queue"],
        "priority": node["priority"],
        "max_deliveries": node["max_deliveries"],
        "created_at": now,
    }
    if node.get("max_retries") is not None:
        fields["max_retries"] = node["max_retries"]
    headers = dict(lineage or {})
    if node.get("flow"):
        headers[FLOW_HEADER] = json.dumps(node["flow"], separators=(",", ":"))
    countdown = node.get("countdown")
    if countdown:
        headers[ETA_HEADER] = repr(now + countdown)
    if headers:
        fields["headers"] = headers
    return Message.build(**fields), (now + countdown if countdown else None)


def plan(
    node: Node, parent: Any, now: float, lineage: Mapping[str, str] | None = None
) -> Continuation:
    """What starting ``node`` writes: its chords and its messages, ``parent`` passed on."""
    sends: list[tuple[Message, float | None]] = []
    chords: list[ChordSpec] = []

    def visit(current: Node) -> None:
        kind = current["t"]
        if kind == "s":
            sends.append(message_of(current, parent, now, lineage))
        elif kind == "g":
            for member in current["members"]:
                visit(member)
        else:
            callback, _ = message_of(current["body"], CHORD_RESULTS, now, lineage)
            members = tuple(_member_id(m, callback.id) for m in current["members"])
            chords.append(ChordSpec(callback=callback, size=len(members), members=members))
            for member in current["members"]:
                visit(member)

    visit(node)
    return Continuation(sends=tuple(sends), chords=tuple(chords))


def _member_id(node: Node, callback_id: str) -> str:
    """The id of the step of ``node`` that joins the chord ``callback_id`` ('' if none does)."""
    if node["t"] == "s":
        flow = node.get("flow") or {}
        if (flow.get("chord") or {}).get("cb", {}).get("id") == callback_id:
            return str(node["id"])
        inner = list(flow.get("next", ()))
    elif node["t"] == "g":
        inner = list(node["members"])
    else:
        inner = [node["body"]]
    for child in inner:
        if found := _member_id(child, callback_id):
            return found
    return ""


def flow_of(message: Message) -> dict[str, Any] | None:
    """The flow of a workflow message, or ``None`` for a plain one (one dict lookup)."""
    if not message.headers:
        return None
    text = message.headers.get(FLOW_HEADER)
    return None if text is None else dict(json.loads(text))


def on_success(flow: dict[str, Any], delivery: Delivery, value: Any, now: float) -> Continuation:
    """The continuation of a step that returned ``value`` (JSON)."""
    sends: list[tuple[Message, float | None]] = []
    chords: list[ChordSpec] = []
    for node in flow.get("next", ()):
        started = plan(node, value, now, _lineage_of(delivery))
        sends += started.sends
        chords += started.chords
    join = None
    member = flow.get("chord")
    if member is not None:
        join = ChordJoin(
            callback=_callback_of(member, now),
            index=int(member["index"]),
            member_id=delivery.id,
            value=to_json(value).decode(),
        )
    return Continuation(sends=tuple(sends), chords=tuple(chords), join=join)


def on_failure(flow: dict[str, Any], delivery: Delivery, error: str, now: float) -> Continuation:
    """The continuation of a step that went to DEAD with ``error`` (one line)."""
    family = _lineage_of(delivery)
    sends = [message_of(node, delivery.id, now, family) for node in flow.get("errbacks", ())]
    message = f"workflow step {delivery.message.task}[{delivery.id}] failed: {error}"
    results = [_failure(result_id, message, now) for result_id in flow.get("fail", ())]
    join = None
    member = flow.get("chord")
    if member is not None:
        callback = _callback_of(member, now)
        message = f"chord member {delivery.message.task}[{delivery.id}] failed: {error}"
        join = ChordJoin(
            callback=callback,
            index=int(member["index"]),
            member_id=delivery.id,
            failures=tuple(_failure(i, message, now) for i in (callback.id, *results_ids(member))),
            errbacks=tuple(
                message_of(node, delivery.id, now, family)[0] for node in member.get("errbacks", ())
            ),
        )
        results = []
    return Continuation(sends=tuple(sends), results=tuple(results), join=join)


def _lineage_of(delivery: Delivery) -> dict[str, str]:
    """Headers naming ``delivery`` as the parent of the messages its step sends."""
    message = delivery.message
    return {PARENT_HEADER: message.id, ROOT_HEADER: message.headers.get(ROOT_HEADER, message.id)}


def results_ids(member: dict[str, Any]) -> list[str]:
    """Result ids after a chord's callback that fail with it (its chain's last step)."""
    return [i for i in member.get("fail", ()) if i != member["cb"]["id"]]


def _callback_of(member: dict[str, Any], now: float) -> Message:
    """The chord's callback as the join needs it (id, queue, priority, max_deliveries)."""
    callback = member["cb"]
    return _callback(
        callback["id"],
        callback["task"],
        callback["queue"],
        callback["priority"],
        callback["max_deliveries"],
    )


@lru_cache(maxsize=256)
def _callback(id: str, task: str, queue: str, priority: int, max_deliveries: int) -> Message:
    """One message per chord for every member's join (its payload is not read there)."""
    return Message(id=id, task=task, queue=queue, priority=priority, max_deliveries=max_deliveries)


def _failure(result_id: str, message: str, now: float) -> TaskResult:
    return TaskResult(
        id=result_id,
        status="FAILURE",
        error_type="WorkflowError",
        error_message=message,
        finished_at=now,
    )
