"""The FastAPI app: ``uvicorn examples.fastapi_app.main:api``.

``POST /add`` enqueues a task and waits for its result within the request; ``POST /reports``
enqueues and answers 202 at once, and ``GET /results/{id}`` reports on it later.

The endpoints are plain ``def`` functions: FastAPI runs them in its threadpool, so the blocking
``delay()`` and ``get()`` never stall the event loop. With taskq's asyncio API they become
``async def`` endpoints that ``await add.adelay(a, b)`` and ``await result.aget(timeout=...)``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from examples.fastapi_app.tasks import add, taskq, word_count
from taskq_core import ResultTimeout

#: Longest a request waits for its task's result, in seconds.
RESULT_WAIT = 10.0

api = FastAPI(title="taskq + FastAPI")


class Numbers(BaseModel):
    """Two numbers to add."""

    a: int
    b: int


class Document(BaseModel):
    """A document to count the words of."""

    text: str


@api.post("/add")
def add_numbers(numbers: Numbers) -> dict[str, Any]:
    """Enqueue ``add`` and answer with its result (504 if no worker answers in time)."""
    result = add.delay(numbers.a, numbers.b)
    try:
        return {"id": result.id, "sum": result.get(timeout=RESULT_WAIT)}
    except ResultTimeout:
        raise HTTPException(504, f"no result for task {result.id} yet") from None


@api.post("/reports", status_code=202)
def start_report(document: Document) -> dict[str, str]:
    """Enqueue ``word_count`` and answer at once with the task's id."""
    return {"id": word_count.delay(document.text).id}


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
