"""Paired comparisons over training seeds: per-seed differences and a Student-t interval.

Two configurations trained with the same seeds share their data split, initialisation and
sample order seed by seed, so the honest comparison is the difference per seed, not the
difference of means over different seeds. A comparison uses only the seeds both sides have.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean and its Student-t interval with ``n - 1`` degrees of
    freedom (NaN bounds for a single value)."""
    n = len(values)
    if n == 0:
        raise ValueError("t_interval needs at least one value")
    mean = sum(values) / n
    if n < 2:
        return mean, math.nan, math.nan
    from scipy.stats import t

    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def paired_difference(
    a: Mapping[int, float], b: Mapping[int, float], level: float = 0.95
) -> dict[str, Any] | None:
    """``a - b`` seed by seed over the seeds both have (``{seed: value}``): ``n``, ``mean``,
    ``low``, ``high`` (the t interval) and the per-seed ``diffs``; None without a common seed."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    diffs = [a[s] - b[s] for s in seeds]
    mean, low, high = t_interval(diffs, level)
    return {"n": len(seeds), "seeds": seeds, "mean": mean, "low": low, "high": high, "diffs": diffs}


def format_difference(d: dict[str, Any] | None, unit: str = "") -> str:
    """``+4.2 [+1.0, +7.4]`` (a single seed says so; None is a dash)."""
    if d is None:
        return "–"
    if d["n"] < 2:
        return f"{d['mean']:+.1f}{unit} (1 seed)"
    return f"{d['mean']:+.1f}{unit} [{d['low']:+.1f}, {d['high']:+.1f}]"
