"""Framing and denoising speed: ours against Tonic's, measured in the same run.

Framing: ``ToFrame(sensor_size, n_time_bins=10)`` (ours, validation included) against
``tonic.transforms.ToFrame(sensor_size, n_time_bins=10)`` on uniformly random, time-sorted
events, 1M and 10M events at 240x180 and 128x128. Denoise: ours against
``tonic.transforms.Denoise`` on 100k events. Each case records whether both sides agreed:
for framing, frames 0..T-2 equal and frame T-1 equal to Tonic's plus the events Tonic drops;
for denoise, the same events kept (on a stream where the two definitions coincide).

    python scripts/bench_framing.py [--quick] [--repeats N] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from snn_transfer.events.core import make_events
from snn_transfer.events.framing import ToFrame
from snn_transfer.events.transforms import Denoise

SIZES = ((240, 180), (128, 128))
DURATION_US = 1_000_000
N_BINS = 10
FILTER_TIME_US = 10_000


def random_events(
    n: int, width: int, height: int, rng: np.random.Generator, *, distinct_times: bool = False
) -> np.ndarray:
    """``n`` uniformly random events over one second, sorted by time."""
    if distinct_times:  # starts at the filter time, no equal timestamps
        t = FILTER_TIME_US + np.sort(rng.choice(10 * DURATION_US, n, replace=False))
    else:
        t = np.sort(rng.integers(0, DURATION_US, n))
    x, y, p = rng.integers(0, width, n), rng.integers(0, height, n), rng.integers(0, 2, n)
    return make_events(x, y, t, p)


def best_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Fastest wall time of ``repeats`` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def frames_agree(ours: np.ndarray, theirs: np.ndarray, events: np.ndarray) -> bool:
    """Ours equals Tonic's frames plus the trailing events Tonic drops, all in the last bin."""
    theirs = theirs.astype(np.int64)
    dropped = events[int(theirs.sum()) :]  # contiguous bins from t_first: only the tail
    expected = theirs.copy()
    np.add.at(expected[-1], (dropped["p"].astype(np.intp), dropped["y"], dropped["x"]), 1)
    return ours.dtype == np.float32 and np.array_equal(ours, expected)


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"


def bench_framing(n: int, width: int, height: int, repeats: int, rng) -> dict[str, Any]:
    import tonic

    events = random_events(n, width, height, rng)
    ours = ToFrame(sensor_size=(width, height, 2), n_time_bins=N_BINS)
    theirs = tonic.transforms.ToFrame(sensor_size=(width, height, 2), n_time_bins=N_BINS)
    ours_s, ours_frames = best_time(lambda: ours(events), repeats)
    theirs_s, theirs_frames = best_time(lambda: theirs(events), repeats)
    return {
        "events": n,
        "width": width,
        "height": height,
        "ours_s": ours_s,
        "tonic_s": theirs_s,
        "ours_mev_s": n / ours_s / 1e6,
        "tonic_mev_s": n / theirs_s / 1e6,
        "ratio": theirs_s / ours_s,
        "agree": frames_agree(ours_frames, theirs_frames, events),
    }


def bench_denoise(n: int, width: int, height: int, repeats: int, rng) -> dict[str, Any]:
    import tonic

    events = random_events(n, width, height, rng, distinct_times=True)
    ours = Denoise(filter_time=FILTER_TIME_US)
    theirs = tonic.transforms.Denoise(filter_time=FILTER_TIME_US)
    ours_s, ours_kept = best_time(lambda: ours(events), repeats)
    theirs_s, theirs_kept = best_time(lambda: theirs(events), max(1, repeats // 2))
    return {
        "events": n,
        "width": width,
        "height": height,
        "filter_time_us": FILTER_TIME_US,
        "kept": len(ours_kept),
        "ours_s": ours_s,
        "tonic_s": theirs_s,
        "ours_mev_s": n / ours_s / 1e6,
        "tonic_mev_s": n / theirs_s / 1e6,
        "ratio": theirs_s / ours_s,
        "agree": bool(np.array_equal(ours_kept, theirs_kept)),
    }


def line(kind: str, row: dict[str, Any]) -> str:
    return (
        f"{kind} {label(row['events'])} ev {row['width']}x{row['height']}: "
        f"ours {row['ours_mev_s']:.1f} Mev/s, tonic {row['tonic_mev_s']:.1f} Mev/s, "
        f"{row['ratio']:.1f}x" + ("" if row["agree"] else "  OUTPUTS DIFFER")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument("--repeats", type=int, default=None, help="best of N (default 5)")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="write results")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import tonic

    counts = (10_000, 100_000) if args.quick else (1_000_000, 10_000_000)
    denoise_n = 2_000 if args.quick else 100_000
    repeats = args.repeats or (1 if args.quick else 5)
    rng = np.random.default_rng(args.seed)

    framing = []
    for width, height in SIZES:
        for n in counts:
            # Tonic needs ~0.6 s per 10M events; fewer repeats there keep the run short
            row = bench_framing(n, width, height, repeats if n < 10**7 else min(repeats, 3), rng)
            print(line("framing", row), flush=True)
            framing.append(row)
    denoise = bench_denoise(denoise_n, *SIZES[0], repeats, rng)
    print(line("denoise", denoise), flush=True)

    result = {
        "quick": args.quick,
        "repeats": repeats,
        "n_time_bins": N_BINS,
        "versions": {"numpy": np.__version__, "tonic": tonic.__version__},
        "framing": framing,
        "denoise": denoise,
        "all_agree": all(r["agree"] for r in framing) and denoise["agree"],
    }
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if result["all_agree"] else 1


if __name__ == "__main__":
    sys.exit(main())
