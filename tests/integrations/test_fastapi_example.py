"""examples/fastapi_app: enqueue in an endpoint and wait for the result, through TestClient."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from examples.fastapi_app import main, tasks
from fastapi.testclient import TestClient

from taskq_core import Taskq
from taskq_core.broker import BaseBroker
from taskq_core.testing.plugin import bound_to


@pytest.fixture
def taskq_app(taskq_broker: BaseBroker) -> Iterator[Taskq]:
    """The example's app, on the test broker for the test."""
    with bound_to(tasks.taskq, taskq_broker) as app:
        yield app


@pytest.fixture
def client(taskq_app: Taskq) -> Iterator[TestClient]:
    with TestClient(main.api) as client:
        yield client


def test_an_endpoint_enqueues_and_answers_with_the_workers_result(client, taskq_app, make_worker):
    make_worker(taskq_app, concurrency=2)

    response = client.post("/add", json={"a": 2, "b": 40})

    assert response.status_code == 200
    assert response.json()["sum"] == 42


def test_without_a_worker_the_endpoint_times_out_with_504(client, monkeypatch):
    monkeypatch.setattr(main, "RESULT_WAIT", 0.2)

    response = client.post("/add", json={"a": 1, "b": 1})

    assert response.status_code == 504
    assert "no result for task" in response.json()["detail"]


def test_a_report_is_accepted_at_once_and_its_result_read_later(client, taskq_worker):
    accepted = client.post("/reports", json={"text": "the cat and the hat"})
    assert accepted.status_code == 202
    task_id = accepted.json()["id"]
    assert client.get(f"/results/{task_id}").json()["status"] == "PENDING"

    assert taskq_worker.drain() == {"acked": 1}

    done = client.get(f"/results/{task_id}").json()
    assert done["status"] == "SUCCESS"
    assert done["value"] == {"the": 2, "cat": 1, "and": 1, "hat": 1}
