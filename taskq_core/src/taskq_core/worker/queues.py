"""In which order a worker asks its queues for work.

Two orders, chosen with ``queue_order`` (``--queue-order``):

* ``fair`` (the default): each reserve starts from a queue picked by smooth weighted round-robin
  (nginx's algorithm), then falls through to the others in their given order. Queues listed
  without weights weigh 1 each, which makes plain round-robin: ``-Q default,emails`` tries
  ``emails`` first on every other reserve, so a backlog in ``default`` never starves it (what a
  Celery user on Redis expects). With weights (``-Q high:6,default:3,low:1``), over any ten
  consecutive reserves ``low`` is tried first once, however busy the others are. The sequence is
  deterministic (testable, no randomness).
* ``strict``: every reserve tries the queues in the given order, so a later queue runs only when
  the earlier ones are empty. Weights make no sense there and are refused.
"""

from __future__ import annotations

from collections.abc import Sequence

from taskq_core.errors import ConfigurationError
from taskq_core.schemas import require_queue_name

#: The queue orders a worker knows; the first is the default.
QUEUE_ORDERS = ("fair", "strict")


def parse_queue_specs(specs: Sequence[str]) -> tuple[list[str], dict[str, int]]:
    """Split ``["high:3", "low"]`` into names and weights (a missing weight is 1)."""
    names: list[str] = []
    weights: dict[str, int] = {}
    for spec in specs:
        name, sep, weight = spec.strip().partition(":")
        name = require_queue_name(name)
        if name in names:
            raise ConfigurationError(f"queue {name!r} is listed twice")
        names.append(name)
        if sep:
            if not weight.isdigit() or int(weight) < 1:
                raise ConfigurationError(f"queue weight in {spec!r} must be a whole number >= 1")
            weights[name] = int(weight)
    return names, weights


class QueueOrder:
    """Yields, per reserve, the queues to try in order.

    Args:
        queues: The queues, in the order the user gave them.
        weights: Weights of the ``fair`` order; a queue without one weighs 1.
        order: ``fair`` (weighted round-robin of the first queue) or ``strict`` (always the
            given order).
    """

    def __init__(
        self,
        queues: Sequence[str],
        weights: dict[str, int] | None = None,
        *,
        order: str = "fair",
    ) -> None:
        if order not in QUEUE_ORDERS:
            raise ConfigurationError(
                f"unknown queue order {order!r}; choose one of {', '.join(QUEUE_ORDERS)}"
            )
        if order == "strict" and weights:
            raise ConfigurationError(
                "queue weights (name:weight) need the fair queue order, not strict"
            )
        self.queues = list(queues)
        self.order = order
        self.weights = {q: (weights or {}).get(q, 1) for q in self.queues}
        self._rotating = order == "fair" and len(self.queues) > 1
        self._current = dict.fromkeys(self.queues, 0)

    def next(self) -> list[str]:
        """The order for the next reserve."""
        if not self._rotating:
            return self.queues
        total = sum(self.weights.values())
        for queue in self.queues:
            self._current[queue] += self.weights[queue]
        first = max(self.queues, key=lambda q: self._current[q])
        self._current[first] -= total
        return [first, *(q for q in self.queues if q != first)]

    def describe(self) -> str:
        """The order in one phrase, for the worker's start banner."""
        if self.order == "strict":
            return "strict (" + " > ".join(self.queues) + ")"
        if len(set(self.weights.values())) <= 1:
            return "fair (round-robin)"
        return "fair (weighted " + ", ".join(f"{q}:{w}" for q, w in self.weights.items()) + ")"
