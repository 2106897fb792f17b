"""Number formatting shared by every Markdown report: one convention for missing values and uncertainties."""

from __future__ import annotations

import math


def fmt(x: float | None, nd: int = 4) -> str:
    """``x`` to ``nd`` significant digits; '-' for a missing (None) or non-finite value."""
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:.{nd}g}"


def pm(value: float, std: float, nd: int = 4) -> str:
    """'value ± std' (std to 2 significant digits), or the value alone when its std is unknown."""
    return fmt(value, nd) + (f" ± {fmt(std, 2)}" if math.isfinite(std) else "")
