"""Message: the wire model producers write and workers read."""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid

import pydantic
import pytest

from taskq_core import Message, MessageDecodeError, SerializationError


def test_default_id_is_a_uuid_version_7():
    # Given a message built without an id
    message = Message.build(task="tests.add")

    # Then its id is a UUIDv7 string
    assert uuid.UUID(message.id).version == 7


def test_ids_sort_in_creation_order():
    # Given many messages built one after another
    ids = [Message.build(task="tests.add").id for _ in range(200)]

    # Then sorting the ids as text keeps the creation order, and none repeats
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_message_is_frozen():
    # Given a message
    message = Message.build(task="tests.add", args=(1, 2))

    # When code tries to change it, then pydantic refuses
    with pytest.raises(pydantic.ValidationError):
        message.task = "tests.other"  # type: ignore[misc]


def test_json_round_trip_keeps_every_field():
    # Given a message with every field set
    message = Message.build(
        task="tests.add",
        args=(1, "two", [3.5, None], {"four": True}),
        kwargs={"x": {"nested": [1, 2]}},
        queue="reports",
        priority=7,
        max_retries=2,
        max_deliveries=3,
        headers={"trace": "abc"},
    )

    # When it goes through the wire format
    decoded = Message.from_json(message.to_json())

    # Then it comes back equal
    assert decoded == message


def test_unknown_fields_are_ignored_for_rolling_deploys():
    # Given the JSON of a message written by a newer producer with a field this version lacks
    data = json.loads(Message.build(task="tests.add", args=(1,)).to_json())
    data["added_in_a_later_version"] = {"anything": 1}

    # When an older worker decodes it
    decoded = Message.from_json(json.dumps(data))

    # Then it reads the fields it knows
    assert decoded.task == "tests.add"
    assert decoded.args == (1,)


@pytest.mark.parametrize(
    "raw",
    ["not json", "{}", '{"task": ""}', '{"task": "t", "schema_version": 99}', "\xff\xfe"],
)
def test_undecodable_payload_raises_message_decode_error(raw: str):
    # Given text that is not a valid taskq message
    # When it is decoded, then the error is taskq's own, on one line
    with pytest.raises(MessageDecodeError, match="undecodable payload") as caught:
        Message.from_json(raw)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("value", "where"),
    [
        pytest.param(dt.datetime(2024, 1, 1, tzinfo=dt.UTC), "args[1]: datetime is", id="datetime"),
        pytest.param({1, 2}, "args[1]: set is not JSON", id="set"),
        pytest.param(object(), "args[1]: object is not JSON", id="object"),
        pytest.param({1: "one"}, "args[1]: dict key 1 is int, not str", id="dict-with-int-keys"),
        pytest.param(b"bytes", "args[1]: bytes is not JSON", id="bytes"),
        pytest.param(math.nan, "args[1]: nan is not JSON", id="nan"),
        pytest.param(math.inf, "args[1]: inf is not JSON", id="inf"),
        pytest.param([1, [2, {3}]], "args[1][1][1]: set is not JSON", id="nested"),
    ],
)
def test_non_json_argument_is_a_serialization_error_naming_it(value: object, where: str):
    # Given a positional argument JSON cannot carry faithfully
    # When a message is built with it
    with pytest.raises(SerializationError) as caught:
        Message.build(task="tests.add", args=("fine", value))

    # Then the error names the task, the argument's position and its type, on one line
    text = str(caught.value)
    assert "'tests.add'" in text
    assert where in text
    assert "\n" not in text


def test_non_json_keyword_argument_is_named_by_its_keyword_and_type():
    # Given a keyword argument that is not JSON
    # When a message is built with it, then the keyword and the type are named
    with pytest.raises(SerializationError, match=r"kwargs\['when'\]: datetime is not JSON"):
        Message.build(task="tests.add", kwargs={"when": dt.datetime.now(dt.UTC)})


@pytest.mark.parametrize(
    "queue", ["", "has space", "{braces}", "a:b", "-leading-dash", "x" * 129, "ünicode"]
)
def test_bad_queue_name_is_refused(queue: str):
    # Given a queue name that cannot be a safe key
    # When a message is built for it, then it is refused
    with pytest.raises(SerializationError, match="queue"):
        Message.build(task="tests.add", queue=queue)


@pytest.mark.parametrize("queue", ["default", "a", "reports.slow", "q_1-2", "9lives", "x" * 128])
def test_good_queue_names_are_accepted(queue: str):
    # Given a queue name within the rules, when a message is built, then it keeps it
    assert Message.build(task="tests.add", queue=queue).queue == queue


@pytest.mark.parametrize("priority", [-1, 10])
def test_priority_out_of_bounds_is_refused(priority: int):
    # Given a priority outside 0-9, when a message is built, then it is refused
    with pytest.raises(SerializationError, match="priority"):
        Message.build(task="tests.add", priority=priority)


@pytest.mark.parametrize("priority", [0, 9])
def test_priority_bounds_are_inclusive(priority: int):
    # Given the lowest and the highest priority, when a message is built, then it keeps it
    assert Message.build(task="tests.add", priority=priority).priority == priority
