"""What ``taskq dead`` shows of DEAD messages: gathered across queues, in brief or in full."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from taskq_core.broker import BaseBroker
    from taskq_core.schemas import DeadLetter

#: DEAD messages read per call while looking for one id.
FIND_PAGE = 500
#: Longest arguments text in ``taskq dead list``, in characters; ``show`` prints them whole.
ARGS_WIDTH = 200


def most_recent_dead(broker: BaseBroker, queues: Sequence[str], limit: int) -> list[DeadLetter]:
    """The ``limit`` most recent DEAD messages of ``queues`` together, most recent first."""
    letters = [letter for queue in queues for letter in broker.list_dead(queue, limit=limit)]
    letters.sort(key=lambda letter: letter.died_at, reverse=True)
    return letters[:limit]


def find_dead(broker: BaseBroker, message_id: str, queues: Sequence[str]) -> DeadLetter | None:
    """The DEAD message with id ``message_id`` in one of ``queues``, paging through each."""
    for queue in queues:
        offset = 0
        while page := broker.list_dead(queue, offset=offset, limit=FIND_PAGE):
            for letter in page:
                if letter.id == message_id:
                    return letter
            offset += len(page)
    return None


def utc_text(died_at: float) -> str:
    """``2026-05-01 12:00:00 UTC``: an epoch time to the second."""
    moment = dt.datetime.fromtimestamp(died_at, tz=dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def call_text(letter: DeadLetter) -> str:
    """The call's arguments as JSON, ``[1, 2] {"retries": 3}``; an undecodable payload as is."""
    if letter.message is None:
        return letter.payload
    text = json.dumps(list(letter.message.args))
    if letter.message.kwargs:
        text += " " + json.dumps(letter.message.kwargs)
    return text


def dead_summary(letters: Sequence[DeadLetter]) -> str:
    """Three lines per letter: whole id, queue, task and when it died; arguments; first reason line.

    Not a table: a whole id, a timestamp and the arguments do not fit side by side in 80
    columns, and a table squeezes or cuts them; these lines also survive ``grep``.
    """
    blocks = []
    for letter in letters:
        task = letter.message.task if letter.message else "(undecodable)"
        call = call_text(letter)
        if len(call) > ARGS_WIDTH:
            call = call[: ARGS_WIDTH - 1] + "…"
        reason = letter.reason.split("\n", 1)[0]
        blocks.append(
            f"{letter.id}  {letter.queue}  {task}  died {utc_text(letter.died_at)}\n"
            f"  args: {call}\n"
            f"  reason: {reason}"
        )
    return "\n".join(blocks)


def dead_detail(letter: DeadLetter) -> str:
    """Everything DEAD keeps about one message, the full reason and traceback last."""
    message = letter.message
    lines = [
        f"id:          {letter.id}",
        f"queue:       {letter.queue}",
        f"task:        {message.task if message else '(undecodable payload)'}",
    ]
    if message is None:
        lines.append(f"payload:     {letter.payload}")
    else:
        lines += [
            f"args:        {json.dumps(list(message.args))}",
            f"kwargs:      {json.dumps(message.kwargs)}",
            f"created:     {utc_text(message.created_at)}",
        ]
    lines += [
        f"died:        {utc_text(letter.died_at)}",
        f"deliveries:  {letter.deliveries}",
        f"retries:     {letter.retries}",
    ]
    if letter.last_error and letter.last_error != letter.reason:
        lines.append(f"last error:  {letter.last_error}")
    lines += ["reason:", letter.reason]
    return "\n".join(lines)
