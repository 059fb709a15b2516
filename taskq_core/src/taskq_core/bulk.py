"""Bulk sends: a batch written in chunks, and what the caller learns when a chunk is refused.

A batch is written in chunks of :data:`BULK_CHUNK` messages; each chunk's parts are atomic on the
broker, the batch as a whole is not (a Redis that runs out of memory refuses the rest). So a
refusal after anything was written raises :class:`~taskq_core.errors.PartialSendError` naming the
ids that are in the queue and the ids that are not, and sending again with the same ids writes no
duplicates.
"""

from __future__ import annotations

import contextlib
import gc
from typing import TYPE_CHECKING

from taskq_core.broker import partial_send
from taskq_core.errors import PartialSendError, TaskqError

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from taskq_core.broker import BaseBroker
    from taskq_core.schemas import Message

#: Messages per ``send_batch`` call in bulk sends (on Redis: one round trip each, streamed in
#: script calls of 1000 messages).
BULK_CHUNK = 10_000


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a bulk send builds and writes its batch.

    A bulk send allocates several tracked objects per message (the model, its argument lists
    and dicts) and frees none of them until it returns, so the collections their allocation
    triggers find nothing to free: about 2 µs of a ``delay_many``'s 15 µs per message. The
    collector is enabled again afterwards (left alone when it was off already), and reference
    counting frees everything as usual meanwhile.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def send_in_chunks(
    broker: BaseBroker,
    messages: Sequence[Message],
    *,
    eta: float | None,
    replace_result: bool,
) -> list[bool]:
    """Write ``messages``; for each, whether it was written (``False``: its id was known).

    Raises:
        PartialSendError: the broker refused part of the batch after another part was written.
        TaskqError: the broker refused the batch before anything was written.
    """
    written: list[bool] = []
    for start in range(0, len(messages), BULK_CHUNK):
        chunk = messages[start : start + BULK_CHUNK]
        try:
            if eta is None:
                written += broker.send_batch(chunk, replace_result=replace_result)
            else:
                for message in chunk:
                    written.append(broker.schedule(message, eta=eta, replace_result=replace_result))
        except TaskqError as exc:
            error = refusal(messages, start, len(chunk), written, exc)
            if error is exc:
                raise
            raise error from error.__cause__
    return written


def refusal(
    messages: Sequence[Message], start: int, size: int, written: list[bool], exc: TaskqError
) -> TaskqError:
    """The error a bulk send raises when the chunk at ``start`` (``size`` messages) was refused.

    ``written`` holds the outcomes of the messages before the refusal (the earlier chunks, and
    those of this chunk written one by one). A refusal before anything was written is ``exc``
    itself; otherwise a :class:`PartialSendError` over the whole batch, chained to the cause.
    """
    ids = [message.id for message in messages]
    if isinstance(exc, PartialSendError):
        cause = exc.__cause__ or exc
        error = partial_send((*ids[:start], *exc.sent), (*exc.unsent, *ids[start + size :]), cause)
        error.__cause__ = exc.__cause__
        return error
    if not written:
        return exc
    error = partial_send(ids[: len(written)], ids[len(written) :], exc)
    error.__cause__ = exc
    return error
