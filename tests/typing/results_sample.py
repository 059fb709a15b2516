"""Typed results: checked by ``test_typing.py`` with ``mypy --strict``; never run.

A line whose comment says ``revealed`` must reveal the type named after the colon, one whose
comment says ``error`` must be reported with that error code; every other line must be clean.
"""

from __future__ import annotations

from typing import reveal_type

from taskq_core import AsyncResult, Taskq

app = Taskq("memory://")


@app.task
def add(x: int, y: int) -> int:
    return x + y


@app.task
async def shout(word: str) -> str:
    return word.upper()


@app.task(name="pack", max_retries=2)
def pack(data: str, *, level: int = 1) -> bytes:
    return data.encode()


def sync_producer() -> None:
    reveal_type(add.delay(1, 2))  # revealed: AsyncResult[int]
    reveal_type(add.delay(1, 2).get(timeout=1))  # revealed: int
    reveal_type(shout.delay("hi").get())  # revealed: str
    reveal_type(pack.delay("a", level=3).get())  # revealed: bytes
    reveal_type(add.apply_async((1, 2), countdown=5).get())  # revealed: int
    reveal_type(add.delay_many([(1, 2)]))  # revealed: list[AsyncResult[int]]
    reveal_type(app.AsyncResult("some-id").get())  # revealed: Any
    reveal_type(add(1, 2))  # revealed: int
    total: int = add.delay(1, 2).get()
    handle: AsyncResult[int] = add.delay(3, 4)
    print(total, handle)


def sync_mistakes() -> None:
    add.delay("1", 2)  # error: arg-type
    add.delay(1)  # error: call-arg
    add.delay(1, 2, 3)  # error: call-arg
    pack.delay("a", level="high")  # error: arg-type
    wrong: str = add.delay(1, 2).get()  # error: assignment
    also_wrong: int = shout.delay("a").get()  # error: assignment
    print(wrong, also_wrong)


async def async_producer() -> None:
    handle = await add.adelay(1, 2)
    reveal_type(handle)  # revealed: AsyncResult[int]
    reveal_type(await handle.aget(timeout=5))  # revealed: int
    reveal_type(await (await shout.adelay("a")).aget())  # revealed: str
    reveal_type(await add.aapply_async((1, 2), priority=9))  # revealed: AsyncResult[int]
    reveal_type(await add.adelay_many([(1, 2)]))  # revealed: list[AsyncResult[int]]
    await add.adelay("1", 2)  # error: arg-type
    wrong: str = await handle.aget()  # error: assignment
    print(wrong)
    add.adelay(1, 2)  # error: unused-coroutine
