"""Per-minute charts as inline SVG, drawn on the server.

A bar per minute is all the overview needs (throughput and failure rate over the last hour), so
the page ships no chart library: the SVG arrives in the same HTML fragment the live refresh
swaps in, and works without any JavaScript.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from taskq_core.schemas import MinuteCounts

WIDTH = 360
HEIGHT = 64


@dataclass(frozen=True)
class Series:
    """One chart: a value per minute, oldest first, with a title and a unit for the labels."""

    title: str
    values: tuple[float, ...]
    unit: str
    css_class: str

    @property
    def peak(self) -> float:
        """The largest value (0 for an empty or all-zero series)."""
        return max(self.values, default=0.0)


def throughput(history: Sequence[MinuteCounts]) -> Series:
    """Finished tasks (succeeded + failed) per minute."""
    values = tuple(float(m.succeeded + m.failed) for m in history)
    return Series("finished / min", values, "", "throughput")


def failure_rate(history: Sequence[MinuteCounts]) -> Series:
    """Failed (DEAD) and retried as a percentage of all settled outcomes, per minute."""
    values = []
    for m in history:
        total = m.succeeded + m.failed + m.retried
        values.append(100.0 * (m.failed + m.retried) / total if total else 0.0)
    return Series("failed or retried %", tuple(values), "%", "failures")


def svg(series: Series, history: Sequence[MinuteCounts]) -> Markup:
    """The series as an SVG bar chart; each bar's tooltip names its minute and value."""
    count = max(len(series.values), 1)
    bar = WIDTH / count
    peak = series.peak or 1.0
    bars = []
    for index, (value, minute) in enumerate(zip(series.values, history, strict=True)):
        height = 0.0 if value <= 0 else max(1.0, (HEIGHT - 2) * value / peak)
        label = f"{time.strftime('%H:%M', time.gmtime(minute.minute))} UTC: {value:g}{series.unit}"
        bars.append(
            f'<rect x="{index * bar:.1f}" y="{HEIGHT - height:.1f}" width="{max(bar - 1, 1):.1f}" '
            f'height="{height:.1f}"><title>{escape(label)}</title></rect>'
        )
    return Markup(
        f'<svg class="chart {series.css_class}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{escape(series.title)}, peak {series.peak:g}{series.unit}">'
        f'<line x1="0" y1="{HEIGHT - 0.5}" x2="{WIDTH}" y2="{HEIGHT - 0.5}"/>'
        f'<text x="2" y="10">peak {series.peak:.3g}{series.unit}</text>'
        f"{''.join(bars)}</svg>"
    )
