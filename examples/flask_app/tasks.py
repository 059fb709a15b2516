"""The tasks of the Flask example. A worker runs them: ``taskq worker examples.flask_app.tasks``."""

from __future__ import annotations

from taskq_core import Taskq

taskq = Taskq.from_config()  # $TASKQ_BROKER_URL, [tool.taskq]

#: Mail the "mail service" accepted, for the tests to read (a real app calls its provider).
SENT: list[str] = []


@taskq.task(max_retries=5, default_retry_delay=30.0)
def send_welcome(email: str) -> str:
    """Send the welcome mail of a new account."""
    SENT.append(email)
    return f"welcome sent to {email}"
