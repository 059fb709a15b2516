"""What every capability shares: the one way to ask a broker for it, and the one error.

Every feature beyond the core queue calls ``SomeCapability.require(broker, "the feature")``
where it starts, so a backend without it fails with one line naming the feature and the
missing capability, never with an ``AttributeError`` deep inside. Code that can do without a
capability (heartbeats, a dashboard's worker list) asks ``SomeCapability.offered_by(broker)``.
"""

from __future__ import annotations

import abc
from typing import ClassVar, Self

from taskq_core.errors import MissingCapability


class Capability(abc.ABC):  # noqa: B024 - a marker base: the methods are the subclasses'
    """Base of every optional capability a backend can offer beside the core queue."""

    #: What the capability offers, in the words of its one-line error.
    offers: ClassVar[str] = ""

    @classmethod
    def offered_by(cls, broker: object) -> bool:
        """Whether ``broker`` offers this capability.

        Its class implements it, and the broker does not withhold it: an instance lists in
        ``withheld_capabilities`` what its deployment cannot give although its class could
        (workflows on Redis Cluster, whose scripts cannot span queues in several slots), and
        may say where in ``withheld_where`` (``"on a Redis Cluster"``) for the error line.
        """
        return isinstance(broker, cls) and cls not in getattr(broker, "withheld_capabilities", ())

    @classmethod
    def require(cls, broker: object, needed_for: str) -> Self:
        """``broker`` as this capability, or one line saying ``needed_for`` cannot work on it.

        Args:
            broker: The app's or the worker's broker.
            needed_for: The feature that needs it, as the user wrote it, e.g. ``"result.get()"``.

        Raises:
            MissingCapability: the broker does not implement this capability.
        """
        if cls.offered_by(broker):
            return broker  # type: ignore[return-value]
        scheme = getattr(broker, "scheme", "") or type(broker).__name__
        where = getattr(broker, "withheld_where", "on this server")
        has = f"withholds it {where}" if isinstance(broker, cls) else "has none"
        raise MissingCapability(
            f"{needed_for} needs a backend with {cls.offers}; the {scheme} backend "
            f"({type(broker).__name__}) {has}"
        )
