"""The Flask app: ``flask --app examples.flask_app.app run``.

``POST /signup`` enqueues the welcome mail and answers 202 with the task's id;
``GET /tasks/<id>`` reports on it. The request never waits for the mail to go out.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, request

from examples.flask_app.tasks import send_welcome, taskq


def create_app() -> Flask:
    """The application factory Flask's CLI and the tests call."""
    app = Flask(__name__)

    @app.post("/signup")
    def signup() -> tuple[dict[str, Any], int]:
        email = (request.get_json(silent=True) or {}).get("email")
        if not email:
            abort(400, "give an email")
        result = send_welcome.delay(email)
        return {"task": result.id}, 202

    @app.get("/tasks/<task_id>")
    def task_status(task_id: str) -> dict[str, Any]:
        result = taskq.AsyncResult(task_id)
        status = result.status
        value = result.get(timeout=0) if status == "SUCCESS" else None
        return {"task": task_id, "status": status, "value": value}

    return app
