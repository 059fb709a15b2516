"""asyncio producers: ``await task.adelay(...)``, then ``await result.aget(timeout=...)``.

Run from the repository root: ``python -m examples.async_producer``. Everything runs in this
process on the in-memory broker, with a worker on its own threads; see docs/asyncio.md. With
``redis://`` instead, the same code waits on ``redis.asyncio`` connections.
"""

from __future__ import annotations

import asyncio

from taskq_core import ResultTimeout, SignatureMismatch, TaskError, Taskq, Worker

app = Taskq("memory://")


@app.task
def add(x: int, y: int) -> int:
    """A plain function: the worker runs it on a thread."""
    return x + y


@app.task
async def fetch_title(url: str) -> str:
    """An ``async def`` task: the worker runs it on its event loop; ``aget()`` is a ``str``."""
    await asyncio.sleep(0.05)
    return f"title of {url}"


@app.task(no_retry_for=[ZeroDivisionError])
def divide(x: int, y: int) -> float:
    """Fails for good: ``aget()`` raises ``TaskError``."""
    return x / y


async def ticker(ticks: list[int]) -> None:
    """Another coroutine of the same loop: it keeps ticking while the producer waits."""
    while True:
        await asyncio.sleep(0.01)
        ticks.append(len(ticks))


async def produce() -> None:
    """What an endpoint of an asyncio web app does: send, then await the result."""
    ticks: list[int] = []
    beat = asyncio.create_task(ticker(ticks))

    handle = await add.adelay(2, 3)
    total = await handle.aget(timeout=5)
    print(f"await add.adelay(2, 3) -> aget() -> {total}")

    titles = await fetch_title.adelay_many([("a.example",), ("b.example",), ("c.example",)])
    values = await asyncio.gather(*(title.aget(timeout=5) for title in titles))
    print(f"adelay_many + gather: {values}")

    later = await add.aapply_async((10, 20), countdown=0.2, task_id="sum-10-20")
    again = await add.aapply_async((10, 20), task_id="sum-10-20")
    print(f"aapply_async(task_id=...) twice: duplicate={again.duplicate}")
    print(f"countdown=0.2 -> {await later.aget(timeout=5)}")

    try:
        await (await divide.adelay(1, 0)).aget(timeout=5)
    except TaskError as error:
        print(f"divide -> TaskError: {error}")

    try:
        await add.adelay(1)  # type: ignore[call-arg]  # refused before anything is sent
    except SignatureMismatch as error:
        print(f"add.adelay(1) -> SignatureMismatch: {error}")

    try:
        await handle.aforget()
        await handle.aget(timeout=0.1)
    except ResultTimeout:
        print("after aforget(): aget(timeout=0.1) raised ResultTimeout")

    beat.cancel()
    print(f"the loop kept running while it waited: {len(ticks) > 0}")


def main() -> None:
    """Start a worker on threads, run the producer's coroutine, stop the worker."""
    worker = Worker(app, concurrency=4)
    worker.start()
    try:
        asyncio.run(produce())
    finally:
        worker.stop()


if __name__ == "__main__":
    main()
