"""In which order a worker asks its queues for work.

Without weights the order is strict: ``-Q high,default,low`` always tries ``high`` first, so
``low`` runs only when the others are empty (Celery's behaviour). With weights
(``-Q high:6,default:3,low:1``) each reserve starts from a queue picked by smooth weighted
round-robin (nginx's algorithm), then falls through to the others in their given order. Over any
ten consecutive reserves ``low`` is tried first once, so no queue starves however busy the others
are, and the sequence is deterministic (testable, no randomness).
"""

from __future__ import annotations

from collections.abc import Sequence

from taskq_core.errors import ConfigurationError
from taskq_core.schemas import require_queue_name


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
    """Yields, per reserve, the queues to try in order."""

    def __init__(self, queues: Sequence[str], weights: dict[str, int] | None = None) -> None:
        self.queues = list(queues)
        self.weights = {q: (weights or {}).get(q, 1) for q in self.queues}
        self._weighted = bool(weights)
        self._current = dict.fromkeys(self.queues, 0)

    def next(self) -> list[str]:
        """The order for the next reserve."""
        if not self._weighted or len(self.queues) == 1:
            return self.queues
        total = sum(self.weights.values())
        for queue in self.queues:
            self._current[queue] += self.weights[queue]
        first = max(self.queues, key=lambda q: self._current[q])
        self._current[first] -= total
        return [first, *(q for q in self.queues if q != first)]
