"""Retries with backoff, exceptions that skip them, explicit ``Retry``, and the DEAD letters.

Run from the repository root: ``python -m examples.retries``. Everything runs in this process
on the in-memory broker; see docs/retries.md.
"""

from __future__ import annotations

from collections import Counter

from taskq_core import AsyncResult, Retry, TaskError, Taskq, Worker

app = Taskq("memory://")

#: Calls per task, so the output can say how many attempts each needed.
attempts: Counter[str] = Counter()
#: Flipped before requeueing from DEAD: "deploy the fix".
fixed = {"charge": False}


@app.task(max_retries=3, default_retry_delay=0.1)
def flaky() -> str:
    """Fail twice with a transient error, then succeed."""
    attempts["flaky"] += 1
    if attempts["flaky"] < 3:
        raise ConnectionError("upstream timed out")
    return "ok"


@app.task(max_retries=2, default_retry_delay=0.05)
def charge(order: int) -> str:
    """Fail until the fix is deployed: retries run out and the message goes to DEAD."""
    attempts["charge"] += 1
    if not fixed["charge"]:
        raise RuntimeError(f"payment API rejected order {order}")
    return f"charged order {order}"


@app.task(no_retry_for=[ValueError])
def parse(text: str) -> int:
    """A bad input will not get better by retrying: ValueError goes to DEAD at once."""
    attempts["parse"] += 1
    return int(text)


@app.task(retry_for=[ConnectionError])
def lookup(key: str) -> str:
    """Only ConnectionError is retried; anything else goes to DEAD at once."""
    attempts["lookup"] += 1
    return {"a": "1"}[key]


@app.task(max_retries=5)
def poll_job() -> str:
    """Ask for a retry explicitly, with a chosen delay (it counts against ``max_retries``)."""
    attempts["poll_job"] += 1
    if attempts["poll_job"] < 3:
        raise Retry(delay=0.1, reason="job not finished yet")
    return "job finished"


def outcome(result: AsyncResult) -> str:
    """The value, or the remote error, of a finished call."""
    try:
        return repr(result.get(timeout=10))
    except TaskError as error:
        return f"TaskError({error})"


def main() -> None:
    """Run each task once through a worker and show what retries did."""
    caps = [flaky.policy.backoff_cap(n) for n in range(4)]
    print(f"flaky backoff caps (full jitter draws 0..cap): {caps}")
    defaults = [parse.policy.backoff_cap(n) for n in (0, 1, 2, 9, 10)]
    print(f"default caps before retries 1, 2, 3, 10, 11: {defaults}")

    worker = Worker(app, concurrency=4)
    worker.start()
    try:
        print(f"flaky -> {outcome(flaky.delay())} after {attempts['flaky']} attempts")
        print(f"poll_job -> {outcome(poll_job.delay())} after {attempts['poll_job']} attempts")
        print(f"parse -> {outcome(parse.delay('x'))} after {attempts['parse']} attempt")
        print(f"lookup -> {outcome(lookup.delay('b'))} after {attempts['lookup']} attempt")
        once = charge.apply_async((7,), max_retries=0)
        print(f"charge(max_retries=0) -> {outcome(once)} after {attempts['charge']} attempt")
        attempts["charge"] = 0
        failed = charge.delay(42)
        print(f"charge -> {outcome(failed)} after {attempts['charge']} attempts")

        letter = next(d for d in app.broker.list_dead("default") if d.id == failed.id)
        print("DEAD keeps:")
        message = letter.message
        print(
            f"  task={message.task if message else None} args={message.args if message else None}"
        )
        print(f"  reason={letter.reason.splitlines()[0]!r}")
        print(f"  retries={letter.retries} deliveries={letter.deliveries}")
        print(f"  last_error={letter.last_error!r}")
        print(f"DEAD in default: {app.broker.counts('default').dead}")

        fixed["charge"] = True
        # The FAILURE stored when it died would answer get() at once: forget it first.
        failed.forget()
        moved = app.broker.requeue_dead("default", [failed.id])
        print(f"fixed, forgot the old result, requeued {moved}: charge -> {outcome(failed)}")
        print(f"purged {app.broker.purge_dead('default')} dead message(s)")
    finally:
        worker.stop()


if __name__ == "__main__":
    main()
