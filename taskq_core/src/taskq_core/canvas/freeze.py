"""Freezing a canvas: every message id chosen, each shape described as JSON nodes.

See :mod:`taskq_core.canvas.nodes` for the node format and the flow header each message carries.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from taskq_core.canvas.nodes import Node
from taskq_core.canvas.signature import Canvas, Handle, Signature, chain, chord, group
from taskq_core.errors import ConfigurationError
from taskq_core.result import AsyncResult, GroupResult
from taskq_core.schemas import MAX_PRIORITY, MIN_PRIORITY, new_message_id, tuples_to_lists


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
) -> tuple[Node, AsyncResult[Any]]:
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
