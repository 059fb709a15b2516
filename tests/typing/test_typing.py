"""``AsyncResult[R]`` as a type checker sees it: ``mypy --strict`` on a sample with expectations.

``results_sample.py`` marks each line that must reveal a type (``# revealed: T``) or must be an
error (``# error: code``); every other line must pass ``--strict``. So a change that loses the
result type (``Any`` everywhere passes quietly) or stops checking ``delay``'s arguments fails.
"""

from __future__ import annotations

import re
from pathlib import Path

from mypy import api as mypy_api

SAMPLE = Path(__file__).with_name("results_sample.py")
ROOT = Path(__file__).parents[2]
_MARK = re.compile(r"#\s*(revealed|error):\s*(.+?)\s*$")
_REPORT = re.compile(r"^[^:]+:(\d+): (error|note): (.*?)(?:  \[([a-z-]+)\])?$")


def expected() -> set[tuple[int, str, str]]:
    """``(line, "revealed" or "error", type or code)`` for each marked line of the sample."""
    marks = set()
    for number, line in enumerate(SAMPLE.read_text().splitlines(), start=1):
        found = _MARK.search(line)
        if found:
            marks.add((number, found.group(1), found.group(2)))
    return marks


def reported(output: str) -> set[tuple[int, str, str]]:
    """The same triples from mypy's report (notes other than revealed types are dropped)."""
    seen = set()
    for line in output.splitlines():
        found = _REPORT.match(line)
        if not found:
            continue
        number, kind, text, code = found.groups()
        if kind == "note":
            revealed = re.fullmatch(r'Revealed type is "(.*)"', text)
            if revealed:
                seen.add((int(number), "revealed", _short(revealed.group(1))))
        else:
            seen.add((int(number), "error", code or text))
    return seen


def _short(type_name: str) -> str:
    """A revealed type as the sample spells it (older mypy versions name builtins in full)."""
    return type_name.replace("builtins.", "").replace("taskq_core.result.", "")


def test_results_are_typed_as_the_tasks_return_values(tmp_path: Path) -> None:
    # Given the sample's expectations
    wanted = expected()
    assert len(wanted) > 20

    # When mypy --strict checks the sample with the project's configuration
    stdout, stderr, _ = mypy_api.run(
        [
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--strict",
            "--cache-dir",
            str(tmp_path / "mypy-cache"),
            "--hide-error-context",
            "--no-pretty",
            str(SAMPLE),
        ]
    )

    # Then it reports exactly the marked revealed types and errors, nothing else
    assert not stderr, stderr
    assert reported(stdout) == wanted, stdout
