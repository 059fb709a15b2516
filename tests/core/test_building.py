"""The producer's direct message build equals pydantic's validated one, over many call shapes.

``taskq_core.building`` writes a ``Message`` without validation when every input is plain;
these tests build the same calls through both paths (the validated one forced by declaring
nothing plain) and compare every field with its exact type, the encoded JSON and
``model_fields_set``; calls that are not plain must give the validated path's message or
error. Message ids (``taskq_core.ids``) are checked as UUIDv7 strings in creation order.
"""

from __future__ import annotations

import enum
import math
import os
import random
import signal
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from taskq_core import SerializationError, Taskq, building
from taskq_core import ids as id_maker
from taskq_core.ids import new_message_id
from taskq_core.schemas import Message

from ..support.waiting import wait_until

if TYPE_CHECKING:
    from collections.abc import Callable

    from taskq_core import Task

SHAPES = 600


class Color(enum.IntEnum):
    RED = 1


class Name(str):
    """A ``str`` subclass: validation may hand back a plain ``str``, so it is not plain."""


def typed(value: Any) -> Any:
    """``value`` with every leaf paired with its exact type (``1 == 1.0 == True`` otherwise)."""
    if isinstance(value, dict):
        return ("dict", type(value), {key: (type(key), typed(item)) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return (type(value), [typed(item) for item in value])
    return (type(value), repr(value))


def same(made: Message, validated: Message, *, fresh_ids: bool = False) -> None:
    """Assert two messages are equal field by field, type by type, byte by byte.

    ``fresh_ids``: each message got a new id of its own; the ids are left out.
    """
    assert made.model_fields_set == validated.model_fields_set
    if fresh_ids:
        assert uuid.UUID(made.id).version == uuid.UUID(validated.id).version == 7
        assert typed({**made.__dict__, "id": ""}) == typed({**validated.__dict__, "id": ""})
        assert made.to_json().replace(made.id, validated.id, 1) == validated.to_json()
        return
    assert typed(dict(made.__dict__)) == typed(dict(validated.__dict__))
    assert made.to_json() == validated.to_json()
    assert made == validated
    assert made.__pydantic_extra__ == validated.__pydantic_extra__
    assert made.__pydantic_private__ == validated.__pydantic_private__
    assert Message.from_json(made.to_json()) == validated


def random_value(rng: random.Random, depth: int = 0) -> Any:
    """A JSON-ish value, sometimes with what JSON or validation does not keep as it is."""
    leaves: list[Callable[[], Any]] = [
        lambda: rng.randint(-(2**70), 2**70),
        lambda: rng.randint(-5, 5),
        lambda: rng.random() * 10 ** rng.randint(-5, 300),
        lambda: -0.0,
        lambda: rng.choice([True, False, None]),
        lambda: "".join(rng.choice('aé"\\\n😀 {}') for _ in range(rng.randint(0, 8))),
    ]
    odd: list[Callable[[], Any]] = [
        lambda: math.inf,
        lambda: math.nan,
        lambda: Color.RED,
        lambda: Name("x"),
        lambda: b"bytes",
        lambda: {1, 2},
        lambda: (1, "tuple"),
        lambda: {1: "int key"},
    ]
    roll = rng.random()
    if depth < 3 and roll < 0.2:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if depth < 3 and roll < 0.35:
        return {
            rng.choice(["a", "b", "ключ", ""]): random_value(rng, depth + 1)
            for _ in range(rng.randint(0, 3))
        }
    if roll < 0.42:
        return rng.choice(odd)()
    return rng.choice(leaves)()


def random_options(rng: random.Random) -> dict[str, Any]:
    """Per-call options of ``build_message``, some of them out of what validation accepts."""
    options: dict[str, Any] = {}
    if rng.random() < 0.3:
        options["queue"] = rng.choice(["default", "other", "q.1-x"])
    if rng.random() < 0.3:
        options["priority"] = rng.choice([0, 5, 9, True, 3.0])
    if rng.random() < 0.5:
        options["task_id"] = rng.choice([str(uuid.uuid4()), "x" * 200, "x" * 201, "", "id"])
    if rng.random() < 0.2:
        options["max_retries"] = rng.choice([0, 3, -1, True])
    if rng.random() < 0.2:
        options["headers"] = rng.choice([{"a": "b"}, {"a": Name("b")}, {"a": 1}, {}])
    if rng.random() < 0.2:
        options["expires"] = rng.choice([1_700_000_100.5, 1_700_000_100, math.inf])
    return options


def outcome(build: Callable[[], Message]) -> Message | tuple[type[BaseException], str]:
    try:
        return build()
    except Exception as exc:  # the error itself is what is compared
        return type(exc), str(exc)


@pytest.fixture
def echo(app: Taskq) -> Task[..., Any]:
    @app.task(name="tests.echo", queue="default")
    def echo(*args: Any, **kwargs: Any) -> None:
        return None

    return echo


def test_direct_build_equals_validated_build_over_many_shapes(
    echo: Task[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(20261130)
    direct_builds = 0
    for _ in range(SHAPES):
        args = tuple(random_value(rng) for _ in range(rng.randint(0, 3)))
        kwargs = {f"k{i}": random_value(rng) for i in range(rng.randint(0, 2))}
        options = random_options(rng)
        given_id = "task_id" in options
        with monkeypatch.context() as patched:
            constructed: list[Message] = []
            real = building.construct

            def spy(fields: dict[str, Any], real: Any = real, seen: Any = constructed) -> Message:
                seen.append(real(fields))
                return seen[-1]

            patched.setattr("taskq_core.building.construct", spy)
            made = outcome(lambda: echo.build_message(args, kwargs, **options))  # noqa: B023
        direct_builds += bool(constructed)
        with monkeypatch.context() as patched:
            patched.setattr("taskq_core.building.plain_shared", lambda fields: False)
            validated = outcome(lambda: echo.build_message(args, kwargs, **options))  # noqa: B023
        if isinstance(made, Message) and isinstance(validated, Message):
            same(made, validated, fresh_ids=not given_id)
        else:
            assert made == validated, (args, kwargs, options)
    # The shapes reach both paths: the comparison is not vacuous.
    assert SHAPES // 10 < direct_builds < SHAPES - SHAPES // 10


def test_bulk_build_equals_one_validated_build_per_call(
    echo: Task[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(7)
    calls: list[Any] = []
    for index in range(200):
        if index % 2:
            calls.append(tuple(random_value(rng) for _ in range(rng.randint(0, 3))))
        else:
            calls.append({f"k{i}": random_value(rng) for i in range(rng.randint(0, 2))})
    plain_calls = [
        call
        for call in calls
        if building.plain_arguments(
            *(((), call) if isinstance(call, dict) else (call, {}))  # type: ignore[arg-type]
        )
    ]
    ids = [new_message_id() for _ in plain_calls]
    messages = echo.build_messages(plain_calls, queue="other", priority=4, task_ids=ids)
    monkeypatch.setattr("taskq_core.building.plain_shared", lambda fields: False)
    for message, call, ident in zip(messages, plain_calls, ids, strict=True):
        args, kwargs = ((), call) if isinstance(call, dict) else (call, {})
        validated = echo.build_message(args, kwargs, queue="other", priority=4, task_id=ident)
        same(message, validated)
    # A call that is not plain in the same batch is refused as the validated path refuses it.
    with pytest.raises(SerializationError, match=r"args\[0\]: set is not JSON"):
        echo.build_messages([(1,), ({1},)], queue=None, priority=None, task_ids=None)


def test_bulk_messages_own_their_headers(
    echo: Task[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As inside a running task: every message sent names it as parent.
    monkeypatch.setattr("taskq_core.building.lineage", lambda: {"taskq-parent-id": "p1"})
    first, second = echo.build_messages([(1,), (2,)], queue=None, priority=None, task_ids=None)
    assert first.headers == second.headers == {"taskq-parent-id": "p1"}
    assert first.headers is not second.headers


def test_message_ids_are_uuid7_in_creation_order() -> None:
    ids = [new_message_id() for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    for ident in ids[:50]:
        parsed = uuid.UUID(ident)
        assert str(parsed) == ident
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122


def test_message_ids_made_fast_keep_the_clock_in_their_timestamp() -> None:
    # Thousands of ids within a few milliseconds stay ordered without moving their
    # millisecond stamp ahead of the clock (one millisecond per id would put the last one
    # about 20 seconds into the future).
    ids = [new_message_id() for _ in range(20_000)]
    now_ms = time.time_ns() // 1_000_000
    assert ids == sorted(ids)
    assert int(ids[-1].replace("-", "")[:12], 16) <= now_ms


def test_message_ids_from_threads_are_unique_and_ordered_per_thread() -> None:
    made: dict[int, list[str]] = {}

    def make(slot: int) -> None:
        made[slot] = [new_message_id() for _ in range(2000)]

    threads = [threading.Thread(target=make, args=(slot,)) for slot in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [ident for ids in made.values() for ident in ids]
    assert len(set(every)) == len(every)
    for ids in made.values():
        assert ids == sorted(ids)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_while_an_id_is_being_made_makes_ids() -> None:
    # Given the id lock held at the fork (as by another thread making an id)
    with id_maker._lock:
        pid = os.fork()
        if pid == 0:  # the child: an id, then out (a lock copied held would block here)
            new_message_id()
            os._exit(0)
    # Then the child ends by itself
    try:
        wait_until(lambda: os.waitpid(pid, os.WNOHANG)[0] == pid, what="the child's exit")
    except AssertionError:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_makes_other_random_bits_than_its_parent() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one id, then out without running the parent's cleanup
        os.write(write, new_message_id().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 100).decode()
    os.close(read)
    os.waitpid(pid, 0)
    parent = new_message_id()
    assert child != parent
    assert child[-12:] != parent[-12:]  # the random tail, not only the time
