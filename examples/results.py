"""Results: wait for a value, see a remote failure, time out, forget, let a result expire.

Run from the repository root: ``python -m examples.results`` (or ``python examples/results.py``).
Everything runs in this process on the in-memory broker; see docs/results.md.
"""

from __future__ import annotations

import time

from taskq_core import ResultTimeout, TaskError, Taskq, Worker

app = Taskq("memory://", result_ttl=60)


@app.task
def add(x: int, y: int) -> int:
    """Return a JSON value: stored as a SUCCESS result."""
    return x + y


@app.task(no_retry_for=[ZeroDivisionError])
def divide(x: int, y: int) -> float:
    """Fail at once (no retries for this error): the message goes to DEAD, the result is FAILURE."""
    return x / y


@app.task
def tags() -> set[str]:
    """Return a value JSON cannot hold: the task is acked, the result is a FAILURE."""
    return {"a", "b"}


@app.task(ignore_result=True)
def log_visit(page: str) -> str:
    """Run for its side effect; no result is stored."""
    return page


@app.task(result_ttl=0.5)
def short_lived() -> str:
    """Its result is kept half a second instead of the app's 60."""
    return "gone soon"


@app.task
def slow(seconds: float) -> str:
    """Take a while, so a short ``get(timeout=...)`` gives up first."""
    time.sleep(seconds)
    return "done"


def main() -> None:
    """Send some calls, run a worker in this process, and look at their results."""
    total = add.delay(2, 3)
    print(f"before any worker: status={total.status} ready={total.ready()}")

    worker = Worker(app, concurrency=4)
    worker.start()
    try:
        print(f"add.get() -> {total.get(timeout=5)}")
        print(f"status={total.status} ready={total.ready()} successful={total.successful()}")
        same = app.AsyncResult(total.id)
        print(f"app.AsyncResult(id).get() -> {same.get(timeout=5)}")

        failed = divide.delay(1, 0)
        try:
            failed.get(timeout=5)
        except TaskError as error:
            print(f"divide.get() raised TaskError: {error}")
            print(f"  exc_type={error.exc_type} message={error.message!r}")
            last_line = (error.traceback or "").splitlines()[-1]
            print(f"  traceback ends with: {last_line}")
        returned = failed.get(timeout=5, propagate=False)
        print(f"get(propagate=False) returns {type(returned).__name__}; failed={failed.failed()}")

        try:
            tags.delay().get(timeout=5)
        except TaskError as error:
            print(f"non-JSON return value -> {error.exc_type}")

        visit = log_visit.delay("/home")
        try:
            visit.get(timeout=0.5)
        except ResultTimeout:
            print(f"ignore_result=True: get(timeout=0.5) raised ResultTimeout; {visit.status}")

        waiting = slow.delay(1.0)
        try:
            waiting.get(timeout=0.1)
        except ResultTimeout as error:
            print(f"ResultTimeout: {error}".replace(waiting.id, "<id>"))
        print(f"waiting longer -> {waiting.get(timeout=5)}")

        total.forget()
        print(f"after forget(): status={total.status}")

        brief = short_lived.delay()
        print(f"short_lived -> {brief.get(timeout=5)}")
        time.sleep(0.6)
        print(f"0.6 s later: status={brief.status}")
    finally:
        worker.stop()


if __name__ == "__main__":
    main()
