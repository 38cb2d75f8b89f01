"""A benchmark figure (value, target, ratio, PASS/FAIL) and the one table they print as."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Direction = Literal["<=", ">="]


@dataclass(frozen=True)
class Figure:
    """One measured figure against its target. The ratio is value / target, oriented so that
    a ratio >= 1 passes: target / value for "at most" targets, value / target for "at least"."""

    number: str  # the figure, e.g. "2b"
    label: str
    value: float
    unit: str
    direction: Direction
    target: float

    @classmethod
    def not_measured(
        cls, number: str, label: str, unit: str, direction: Direction, target: float
    ) -> Figure:
        """A figure this run could not measure (it needs --database): printed, and FAIL."""
        return cls(
            number, f"{label} (not measured: needs --database)", math.nan, unit, direction, target
        )

    @property
    def measured(self) -> bool:
        return not math.isnan(self.value)

    @property
    def ratio(self) -> float:
        if not self.measured:
            return math.nan
        if self.direction == ">=":
            return self.value / self.target if self.target else float("inf")
        return self.target / self.value if self.value > 0 else float("inf")

    @property
    def passed(self) -> bool:
        return self.measured and self.ratio >= 1.0

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"


def format_table(header: Sequence[tuple[str, str]], figures: Sequence[Figure]) -> str:
    """The machine and versions as `key: value` lines, then a Markdown table of the figures."""
    lines = [f"{key}: {value}" for key, value in header]
    lines += [
        "",
        "| # | figure | value | target | ratio | result |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {f.number} | {f.label} | {_number(f.value)} {f.unit} | {f.direction} "
        f"{_number(f.target)} {f.unit} | {_ratio(f.ratio)} | {f.verdict} |"
        for f in figures
    ]
    passed = sum(f.passed for f in figures)
    lines += ["", f"{passed} of {len(figures)} figures PASS"]
    return "\n".join(lines)


def _ratio(value: float) -> str:
    return "not measured" if math.isnan(value) else f"{value:.2f}"


def _number(value: float) -> str:
    if math.isnan(value):
        return "not measured"
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.4f}"
