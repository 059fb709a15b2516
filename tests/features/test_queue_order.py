"""``QueueOrder``: fair (smooth weighted round-robin, plain round-robin without weights) by
default, the given order in the strict one."""

from __future__ import annotations

from collections import Counter

import pytest

from taskq_core import ConfigurationError
from taskq_core.worker.queues import QueueOrder, parse_queue_specs


def firsts(order: QueueOrder, picks: int) -> list[str]:
    return [order.next()[0] for _ in range(picks)]


def test_in_strict_order_every_reserve_tries_the_queues_in_the_given_order():
    # Given three queues in strict order
    order = QueueOrder(["high", "default", "low"], order="strict")

    # When many reserves ask for the order
    # Then it is always the given order
    assert all(order.next() == ["high", "default", "low"] for _ in range(50))


@pytest.mark.parametrize("rounds", [1, 7, 100])
def test_weighted_first_picks_match_the_weights_exactly(rounds: int):
    # Given weights 6, 3 and 1
    order = QueueOrder(["high", "default", "low"], {"high": 6, "default": 3, "low": 1})

    # When 10 * rounds reserves pick their first queue
    picked = Counter(firsts(order, 10 * rounds))

    # Then each queue came first exactly weight * rounds times
    assert picked == {"high": 6 * rounds, "default": 3 * rounds, "low": rounds}


def test_every_window_of_total_weight_picks_serves_each_queue_by_its_weight():
    # Given weights 6, 3 and 1 (total 10)
    order = QueueOrder(["high", "default", "low"], {"high": 6, "default": 3, "low": 1})

    # When 100 picks are made
    picks = firsts(order, 100)

    # Then every aligned run of 10 picks holds the weights exactly
    for start in range(0, 100, 10):
        assert Counter(picks[start : start + 10]) == {"high": 6, "default": 3, "low": 1}


def test_a_light_queue_is_never_starved_by_a_heavy_one():
    # Given a queue weighing 100 times the other
    order = QueueOrder(["busy", "rare"], {"busy": 100, "rare": 1})

    # When 1010 picks are made
    picks = firsts(order, 1010)

    # Then any 101 consecutive picks, wherever they start, put "rare" first at least once
    assert all("rare" in picks[start : start + 101] for start in range(len(picks) - 100))


def test_after_the_weighted_pick_the_other_queues_follow_in_the_given_order():
    # Given weights that make the last queue come first now and then
    order = QueueOrder(["a", "b", "c"], {"a": 1, "b": 1, "c": 5})

    # When the orders of a full cycle are taken
    orders = [order.next() for _ in range(7)]

    # Then each is the picked queue followed by the others as given
    for current in orders:
        first = current[0]
        assert current == [first, *(q for q in ["a", "b", "c"] if q != first)]


def test_queue_specs_give_names_in_order_and_weights_defaulting_to_one():
    # When specs with and without weights are parsed
    names, weights = parse_queue_specs(["high:6", "default:3", "low"])

    # Then names keep their order, and a queue without a weight weighs 1
    assert names == ["high", "default", "low"]
    assert weights == {"high": 6, "default": 3}
    assert QueueOrder(names, weights).weights == {"high": 6, "default": 3, "low": 1}


@pytest.mark.parametrize("spec", ["high:0", "high:x", "high:-1", "high:1.5"])
def test_a_queue_weight_that_is_not_a_whole_number_of_at_least_one_is_refused(spec: str):
    # When a bad weight is parsed
    # Then it is a configuration error
    with pytest.raises(ConfigurationError, match="whole number >= 1"):
        parse_queue_specs([spec])


def test_without_weights_the_fair_order_starts_each_reserve_at_the_next_queue():
    # Given three queues without weights in the default (fair) order
    order = QueueOrder(["high", "default", "low"])

    # When six reserves ask for the order
    orders = [order.next() for _ in range(6)]

    # Then the first queue goes round, the others follow in the given order
    assert [o[0] for o in orders] == ["high", "default", "low"] * 2
    assert orders[1] == ["default", "high", "low"]


def test_weights_with_the_strict_order_are_refused():
    # When weights are combined with the strict order
    # Then it is a configuration error naming the fix
    with pytest.raises(ConfigurationError, match="need the fair queue order"):
        QueueOrder(["high", "low"], {"high": 3}, order="strict")


def test_an_unknown_queue_order_is_refused():
    with pytest.raises(ConfigurationError, match="unknown queue order 'random'"):
        QueueOrder(["high", "low"], order="random")
