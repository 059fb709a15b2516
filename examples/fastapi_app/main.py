"""The FastAPI app: ``uvicorn examples.fastapi_app.main:api``.

``POST /add`` enqueues a task and waits for its result within the request; ``POST /reports``
enqueues and answers 202 at once, and ``GET /results/{id}`` reports on it later.

The sending endpoints are ``async def`` and use taskq's asyncio API (``await add.adelay(a, b)``,
``await result.aget(timeout=...)``, docs/asyncio.md): waiting for a result suspends the request,
never the event loop. ``GET /results/{id}`` is a plain ``def`` (FastAPI runs it in its
threadpool), as any endpoint using the sync API must be. The lifespan closes the app's
connections, the asyncio ones included, when the server stops.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from examples.fastapi_app.tasks import add, taskq, word_count
from taskq_core import ResultTimeout

#: Longest a request waits for its task's result, in seconds.
RESULT_WAIT = 10.0


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    """Close taskq's connections (this loop's asyncio client, then the sync one) at shutdown."""
    yield
    await taskq.aclose()


api = FastAPI(title="taskq + FastAPI", lifespan=lifespan)


class Numbers(BaseModel):
    """Two numbers to add."""

    a: int
    b: int


class Document(BaseModel):
    """A document to count the words of."""

    text: str


@api.post("/add")
async def add_numbers(numbers: Numbers) -> dict[str, Any]:
    """Enqueue ``add`` and answer with its result (504 if no worker answers in time)."""
    result = await add.adelay(numbers.a, numbers.b)
    try:
        return {"id": result.id, "sum": await result.aget(timeout=RESULT_WAIT)}
    except ResultTimeout:
        raise HTTPException(504, f"no result for task {result.id} yet") from None


@api.post("/reports", status_code=202)
async def start_report(document: Document) -> dict[str, str]:
    """Enqueue ``word_count`` and answer at once with the task's id."""
    return {"id": (await word_count.adelay(document.text)).id}


@api.get("/results/{task_id}")
def report_result(task_id: str) -> dict[str, Any]:
    """The task's status, and its value once it succeeded."""
    result = taskq.AsyncResult(task_id)
    status = result.status
    return {
        "id": task_id,
        "status": status,
        "value": result.get(timeout=0) if status == "SUCCESS" else None,
    }
