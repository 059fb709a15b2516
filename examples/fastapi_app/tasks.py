"""The tasks of the FastAPI example, run by ``taskq worker examples.fastapi_app.tasks``.

The app reads its broker from ``$TASKQ_BROKER_URL`` (and any ``[tool.taskq]`` settings), so the
web processes and the workers share one configuration.
"""

from __future__ import annotations

from taskq_core import Taskq

taskq = Taskq.from_config()


@taskq.task
def add(a: int, b: int) -> int:
    """Add two numbers (stands in for any work too slow for a request)."""
    return a + b


@taskq.task(queue="reports")
def word_count(text: str) -> dict[str, int]:
    """Count the words of a document."""
    counts: dict[str, int] = {}
    for word in text.lower().split():
        counts[word] = counts.get(word, 0) + 1
    return counts
