"""Timing in turns for the benchmark scripts: ours and the peer alternate, so that a burst
of load from another job slows both sides alike, and each keeps its best round.

A call that takes microseconds is timed as the mean of as many calls as fill ``round_s``
seconds (calibrated once per function), so the timer's resolution and the loop around the
calls do not count.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

#: the shortest round whose time is a measurement, far above the timer's resolution
MIN_ROUND_S = 0.001


def calls_per_round(function: Callable[[], Any], round_s: float) -> int:
    """How many calls of ``function`` last about ``round_s`` seconds (at least one).

    Calls in batches growing fourfold until a batch lasts a quarter of ``round_s``: a slow
    first call (cold caches, lazy imports) does not set the count.
    """
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            function()
        elapsed = time.perf_counter() - start
        if elapsed >= round_s / 4 or calls >= 1 << 22:
            return max(1, round(calls * round_s / max(elapsed, 1e-9)))
        calls *= 4


def in_turns(
    functions: dict[str, Callable[[], Any]], rounds: int, round_s: float = 0.02
) -> dict[str, dict[str, float]]:
    """Seconds per call of each function: ``rounds`` rounds in turns (every function once
    per round, in the given order), each round the mean of its calls.

    Returns per name ``{"best": s, "median": s, "calls": calls per round, "round_s": the
    best round's length}``.
    """
    counts = {name: calls_per_round(f, round_s) for name, f in functions.items()}
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            start = time.perf_counter()
            for _ in range(counts[name]):
                function()
            times[name].append((time.perf_counter() - start) / counts[name])
    return {
        name: {
            "best": min(t),
            "median": statistics.median(t),
            "calls": counts[name],
            "round_s": min(t) * counts[name],
        }
        for name, t in times.items()
    }


def timeable(timing: dict[str, dict[str, float]]) -> bool:
    """Whether every function's best round of :func:`in_turns` lasted ``MIN_ROUND_S``: a
    shorter one measures the timer and the loop, and its ratio is not printed."""
    return all(entry["round_s"] >= MIN_ROUND_S for entry in timing.values())


def load_average() -> float | None:
    """The 1-minute load average, None where the system has none."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None
