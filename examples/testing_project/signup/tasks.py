"""A small sign-up flow: welcome mail now, a reminder in three days, a flaky mail server."""

from __future__ import annotations

from taskq_core import Taskq

app = Taskq()

#: Mail that was "sent", for the tests to look at (a real app would call its mail service).
OUTBOX: list[str] = []
#: Failures the mail server still has in store (the tests set it).
FLAKY_FAILURES = {"left": 0}

THREE_DAYS = 3 * 24 * 3600.0


class MailServerDown(Exception):
    """The mail server refused the connection."""


@app.task(max_retries=3, default_retry_delay=60.0)
def send_mail(to: str, subject: str) -> str:
    """Send one mail; the server fails as often as ``FLAKY_FAILURES`` says."""
    if FLAKY_FAILURES["left"] > 0:
        FLAKY_FAILURES["left"] -= 1
        raise MailServerDown(f"cannot reach the mail server for {to}")
    OUTBOX.append(f"{to}: {subject}")
    return subject


@app.task
def sign_up(email: str) -> str:
    """Welcome the user at once and remind them in three days."""
    send_mail.delay(email, "welcome")
    send_mail.apply_async(args=(email, "still there?"), countdown=THREE_DAYS)
    return email
