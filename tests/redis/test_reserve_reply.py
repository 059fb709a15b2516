"""A reserve.lua reply read into ``Reserved`` items, from a client that decodes or not."""

from __future__ import annotations

from typing import Any

import pytest

from taskq_redis.codec import Reserved, reserved_count, reserved_items

PAYLOAD = b'"bench.noop","args":[1],"created_at":1.5'


def reply(*items: list[Any], unrunnable: list[Any] | None = None) -> list[Any]:
    """A reserve.lua reply: header (now, next ETA, deadline, unrunnable), then the items."""
    flat = [field for item in items for field in item]
    return [b"10.0", b"", b"40.0", unrunnable or [], *flat]


@pytest.mark.parametrize("decoded", [False, True], ids=["bytes", "str"])
def test_fields_of_each_reserved_message(decoded: bool) -> None:
    def wire(value: bytes | None) -> bytes | str | None:
        return value.decode() if decoded and value is not None else value

    payload: bytes | str = PAYLOAD.decode() if decoded else PAYLOAD
    first = [wire(b"id-1"), 1, wire(b""), None, payload]
    again = [wire(b"id-\xc3\xa9"), 3, wire(b"2"), wire(b"ValueError: boom"), payload]
    counted = [wire(b"id-3"), 2, 4, wire(b""), payload]  # retries as a Lua number
    found = reserved_items(reply(first, again, counted))
    assert found == [
        Reserved("id-1", 1, 0, None, payload),
        Reserved("id-é", 3, 2, "ValueError: boom", payload),
        Reserved("id-3", 2, 4, None, payload),
    ]
    assert [type(item.id) for item in found] == [str, str, str]


def test_an_undecodable_id_is_replaced_not_lost() -> None:
    (item,) = reserved_items(reply([b"id-\xff", 1, b"", b"", PAYLOAD]))
    assert item.id == "id-\ufffd"
    assert item.last_error is None


def test_count_holds_runnable_and_unrunnable() -> None:
    held = reply([b"a", 1, b"", b"", PAYLOAD], unrunnable=[b"b", 1, b"revoked"])
    assert reserved_count(held) == 2
