"""Numbers to display strings, one place for every format (verdict sentences and both templates).

A value's `kind` decides its unit: "rate" (a 0..1 mean shown as %; differences in percentage
points), "seconds" (shown as ms below 1 s), "perplexity", "tokens", "per_second" (throughput), or "number".
"""

from __future__ import annotations

import math
import re

MISSING = "—"
_SECONDS_AS_MS_BELOW = 1.0


def _plain(value: float, signed: bool = False) -> str:
    """Two decimals (one from 100, none from 1000, thousands separated); exponents only for tiny
    values such as learning rates. Fixed decimals keep a column's numbers comparable."""
    sign = "+" if signed else ""
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:{sign},.0f}"
    if magnitude >= 100:
        return f"{value:{sign}.1f}"
    if magnitude >= 0.01 or magnitude == 0:
        return f"{value:{sign}.2f}"
    return f"{value:{sign}.2e}"


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def value(v: float | None, kind: str = "number") -> str:
    """A level: 0.42 rate -> '42.0%', 0.1158 seconds -> '115.8 ms'."""
    if _missing(v):
        return MISSING
    if kind == "rate":
        return f"{100 * v:.1f}%"
    if kind == "seconds":
        return f"{1000 * v:.1f} ms" if abs(v) < _SECONDS_AS_MS_BELOW else f"{v:.2f} s"
    if kind in ("tokens", "per_second"):
        return f"{v:,.1f}"
    return number(v)


def diff(v: float | None, kind: str = "number") -> str:
    """A signed difference: rates in percentage points ('+31.5 pts'), seconds in ms."""
    if _missing(v):
        return MISSING
    if kind == "rate":
        return f"{100 * v:+.1f} pts"
    if kind == "seconds":
        return f"{1000 * v:+.1f} ms" if abs(v) < _SECONDS_AS_MS_BELOW else f"{v:+.2f} s"
    if kind == "tokens":
        return f"{v:+.1f}"
    return _plain(v, signed=True)


def interval(low: float | None, high: float | None, kind: str = "number") -> str:
    """'[+25.0, +38.0]' in the unit of `diff` (the unit itself is left to the column header)."""
    if _missing(low) or _missing(high):
        return MISSING
    return f"[{_bare_diff(low, kind)}, {_bare_diff(high, kind)}]"


def _bare_diff(v: float, kind: str) -> str:
    return re.sub(r" (pts|ms|s)$", "", diff(v, kind))


def relative(v: float | None) -> str:
    """rel_change 0.031 -> '+3.1%'."""
    return MISSING if _missing(v) else f"{100 * v:+.1f}%"


def seconds(v: float | None) -> str:
    """Wall times: '12.7 s', '3 min 5 s'."""
    if _missing(v):
        return MISSING
    if v < 60:
        return f"{v:.1f} s"
    minutes, secs = divmod(round(v), 60)
    return f"{minutes} min {secs} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def number(v) -> str:
    """Anything from results.json in a table cell: ints as is, floats compactly, None as a dash."""
    if _missing(v):
        return MISSING
    if isinstance(v, (bool, int)) or not isinstance(v, float):
        return str(v)
    return _plain(v)


def count(v: int | None) -> str:
    """Parameter counts: 134515008 -> '134.5 M', 3227968 -> '3.2 M', 1.2e9 -> '1.20 B'."""
    if _missing(v):
        return MISSING
    if v >= 1e9:
        return f"{v / 1e9:.2f} B"
    return f"{v / 1e6:.1f} M" if v >= 1e6 else f"{v:,}"


def percent(v: float | None) -> str:
    """A share 0..1 as '17%' (importances, saved steps)."""
    return MISSING if _missing(v) else f"{100 * v:.0f}%"


def level(v: float) -> str:
    """A confidence level: 0.95 -> '95%', a Holm step's 0.9833 -> '98.3%'."""
    shown = f"{100 * v:.1f}"
    return f"{shown.removesuffix('.0')}%"


def check(flag: bool | None) -> str:
    """A per-example match flag: ✓ / ✗, or a dash where the metric did not apply."""
    return MISSING if flag is None else ("✓" if flag else "✗")


FILTERS = {
    "check": check,
    "value": value,
    "diff": diff,
    "interval": interval,
    "relative": relative,
    "seconds": seconds,
    "number": number,
    "percent": percent,
    "count": count,
}
