"""examples/flask_app: a view enqueues, another reports, through Flask's test client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from examples.flask_app import tasks
from examples.flask_app.app import create_app
from flask.testing import FlaskClient

from taskq_core import Taskq
from taskq_core.broker import BaseBroker
from taskq_core.testing.plugin import bound_to


@pytest.fixture
def taskq_app(taskq_broker: BaseBroker) -> Iterator[Taskq]:
    with bound_to(tasks.taskq, taskq_broker) as app:
        yield app


@pytest.fixture
def client(taskq_app: Taskq) -> Iterator[FlaskClient]:
    tasks.SENT.clear()
    app = create_app()
    app.config["TESTING"] = True
    with app.test_client() as client:
        yield client


def test_signup_enqueues_the_welcome_mail_without_sending_it(client, taskq_app):
    response = client.post("/signup", json={"email": "ada@example.com"})

    assert response.status_code == 202
    assert tasks.SENT == []
    assert taskq_app.broker.counts(taskq_app.default_queue).ready == 1
    status = client.get(f"/tasks/{response.get_json()['task']}").get_json()
    assert status["status"] == "PENDING"


def test_the_worker_sends_it_and_the_status_view_reports_it(client, taskq_worker):
    task_id = client.post("/signup", json={"email": "ada@example.com"}).get_json()["task"]

    assert taskq_worker.drain() == {"acked": 1}

    assert tasks.SENT == ["ada@example.com"]
    status = client.get(f"/tasks/{task_id}").get_json()
    assert status == {
        "task": task_id,
        "status": "SUCCESS",
        "value": "welcome sent to ada@example.com",
    }


def test_a_signup_without_email_enqueues_nothing(client, taskq_app):
    assert client.post("/signup", json={}).status_code == 400
    assert taskq_app.broker.counts(taskq_app.default_queue).ready == 0


def test_a_real_worker_runs_it_too(client, taskq_app, make_worker):
    task_id = client.post("/signup", json={"email": "bob@example.com"}).get_json()["task"]
    make_worker(taskq_app, concurrency=2)

    assert taskq_app.AsyncResult(task_id).get(timeout=30) == "welcome sent to bob@example.com"
