"""Statements in README.md and docs/ about numbers and ordering agree with the code."""

from __future__ import annotations

import re
from pathlib import Path

from taskq_core import app as app_module

ROOT = Path(__file__).resolve().parents[2]


def flowing(path: str) -> str:
    """A page's text with line breaks and runs of spaces as single spaces."""
    return re.sub(r"\s+", " ", (ROOT / path).read_text())


def test_readme_gives_delay_manys_real_batch_size():
    # Given the README's quick tour line about delay_many
    [line] = [
        line for line in (ROOT / "README.md").read_text().splitlines() if ".delay_many(" in line
    ]

    # Then the batch size it states is the one the app sends with
    assert f"{app_module.BULK_CHUNK:,}" in line, line


def test_redis_round_trip_table_gives_delay_manys_real_batch_size():
    [row] = [
        cell for cell in flowing("docs/redis.md").split("|") if "`delay_many` sends batches" in cell
    ]
    assert f"{app_module.BULK_CHUNK:,}" in row, row


def test_hooks_page_says_a_reject_in_delay_many_writes_nothing():
    # Given what docs/hooks.md says about Reject inside delay_many
    text = flowing("docs/hooks.md")

    # Then it is the whole-call promise tests/core/test_plugins.py checks, not a per-chunk one
    assert "before any message is written" in text
    assert "refuses the whole call, and nothing is written" in text
    assert "earlier chunks are already sent" not in text
