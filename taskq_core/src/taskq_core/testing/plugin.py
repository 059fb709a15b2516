"""Opt-in pytest plugin: the fixtures the conformance suite and backend tests share.

Enable it with ``pytest_plugins = ["taskq_core.testing.plugin"]`` in a root ``conftest.py`` or with
``-p taskq_core.testing.plugin``. It is not a ``pytest11`` auto-plugin, so installing taskq-core
never changes anyone else's pytest run.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Protocol

import pytest

from taskq_core.clock import FakeClock
from taskq_core.schemas import Message


class MessageFactory(Protocol):
    """Signature of the ``make_message`` fixture."""

    def __call__(self, *, queue: str | None = None, task: str = ..., **fields: Any) -> Message:
        """Build a valid message, in the test's own queue unless ``queue`` is given."""
        ...


#: Room left in a queue name (128 characters at most) for suffixes such as ``-b``.
_QUEUE_NAME_STEM_MAX = 80


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock the test moves with ``advance``: leases expire and ETAs arrive instantly."""
    return FakeClock()


@pytest.fixture
def queue_name(request: pytest.FixtureRequest) -> str:
    """A queue name unique to this test, readable in a shared broker: ``t-<test>-<random>``.

    Backends that share one server between tests rely on it (and the names derived from it by
    appending ``-b``, ``-c``) to keep tests apart and to clean up only their own keys.
    """
    stem = re.sub(r"[^A-Za-z0-9_.\-]+", "-", request.node.name).strip("-.")
    return f"t-{stem[:_QUEUE_NAME_STEM_MAX]}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def make_message(queue_name: str) -> MessageFactory:
    """Factory of valid messages; each call numbers its message in ``args`` for readable diffs."""
    made = 0

    def make(*, queue: str | None = None, task: str = "tests.noop", **fields: Any) -> Message:
        nonlocal made
        made += 1
        fields.setdefault("args", (made,))
        return Message.build(queue=queue or queue_name, task=task, **fields)

    return make
