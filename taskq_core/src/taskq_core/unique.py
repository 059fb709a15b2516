"""Unique tasks: at most one message per unique key while the key is held (docs/control.md).

A send with a unique key claims the key in the broker in the same atomic step that writes the
message; while the key is held, a second send with it writes nothing and answers the holder's
id, so the caller gets the first call's handle. A key is held for ``unique_for`` seconds of
broker time at most; with ``unique_until="done"`` (the default) it is released earlier, when
its message is acked or goes to DEAD.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from taskq_core.capabilities import UniqueSends
from taskq_core.errors import ConfigurationError

if TYPE_CHECKING:
    from taskq_core.app import Taskq
    from taskq_core.schemas import Message

UniqueUntil = Literal["done", "ttl"]

#: When a unique key is released: ``"done"`` (acked or DEAD, or at the TTL if sooner) or
#: ``"ttl"`` (only when ``unique_for`` runs out).
UNIQUE_UNTIL_CHOICES: tuple[UniqueUntil, ...] = ("done", "ttl")

#: Longest unique key accepted, in characters (it is a field name in the broker).
MAX_UNIQUE_KEY_LENGTH = 1000


@dataclass(frozen=True)
class UniqueClaim:
    """A unique key a send claims for its message.

    Attributes:
        key: The key; messages of one queue with equal keys exclude each other.
        ttl: Seconds of broker time the key is held at most (> 0).
        until: ``"done"``: also released when the message is acked or goes to DEAD;
            ``"ttl"``: held for the whole ``ttl``.
    """

    key: str
    ttl: float
    until: UniqueUntil = "done"


def check_unique_options(unique_for: float | None, unique_until: str) -> None:
    """Raise ``ConfigurationError`` (one line) for a bad ``unique_for`` or ``unique_until``."""
    if unique_for is not None and (
        isinstance(unique_for, bool)
        or not isinstance(unique_for, int | float)
        or not math.isfinite(unique_for)
        or unique_for <= 0
    ):
        raise ConfigurationError(f"unique_for must be a number of seconds > 0, got {unique_for!r}")
    if unique_until not in UNIQUE_UNTIL_CHOICES:
        raise ConfigurationError(f"unique_until must be 'done' or 'ttl', got {unique_until!r}")


def default_unique_key(message: Message) -> str:
    """The task name and a hash of the canonical JSON of the call's arguments.

    Canonical: keys sorted, no spaces, so ``f(a=1, b=2)`` and ``f(b=2, a=1)`` share a key.
    """
    canonical = json.dumps(
        [list(message.args), message.kwargs], sort_keys=True, separators=(",", ":")
    )
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]
    return f"{message.task}:{digest}"


def claim_for(
    message: Message,
    *,
    unique_key: str | None,
    unique_for: float | None,
    unique_until: str,
) -> UniqueClaim | None:
    """The claim a send of ``message`` makes, or ``None`` when the call is not unique.

    A ``unique_key`` without ``unique_for`` is refused: a key held forever would block its
    task for good after a lost message. No key but ``unique_for``: the default key.

    Raises:
        ConfigurationError: a bad option (one line).
    """
    check_unique_options(unique_for, unique_until)
    if unique_for is None:
        if unique_key is not None:
            raise ConfigurationError(
                "unique_key needs unique_for (seconds the key is held at most)"
            )
        return None
    if unique_key is not None and not (0 < len(unique_key) <= MAX_UNIQUE_KEY_LENGTH):
        raise ConfigurationError(
            f"unique_key must be 1..{MAX_UNIQUE_KEY_LENGTH} characters, got {len(unique_key)}"
        )
    key = unique_key if unique_key is not None else default_unique_key(message)
    until: UniqueUntil = "ttl" if unique_until == "ttl" else "done"
    return UniqueClaim(key=key, ttl=float(unique_for), until=until)


def send_unique_message(
    app: Taskq,
    message: Message,
    claim: UniqueClaim,
    *,
    eta: float | None,
    replace_result: bool,
) -> str:
    """Write ``message`` with its unique ``claim`` (send hooks around it, as ``send_message``).

    Returns:
        The id of the message holding the key: ``message.id`` when this call wrote it.
    """
    from taskq_core.plugins import implementations, notify, plugin_manager

    if implementations("taskq_before_send"):
        plugin_manager().hook.taskq_before_send(message=message)
    unique = UniqueSends.require(app.broker, f"a unique send of task {message.task!r}")
    holder = unique.send_unique(message, claim, eta=eta, replace_result=replace_result)
    if holder == message.id and implementations("taskq_after_send"):
        notify("taskq_after_send", message=message, eta=eta)
    return holder
