"""Framing and denoising speed: ours against Tonic's, measured in the same run.

Framing: ``ToFrame(sensor_size, n_time_bins=10)`` (ours, validation included) against
``tonic.transforms.ToFrame(sensor_size, n_time_bins=10)`` on uniformly random, time-sorted
events, at the sizes of real recordings: N-MNIST-like (4,325 events, 34x34, 0.31 s),
N-Caltech101-like (200k, 240x180, 0.3 s) and CIFAR10-DVS-like (300k, 128x128, 1.3 s), then
1M and 10M events over one second at 240x180 and 128x128 (``--quick``: the three
recording sizes, fewer rounds). Denoise: ours against ``tonic.transforms.Denoise`` on 100k
events. Each case records whether both sides agreed: for framing, frames 0..T-2 equal and
frame T-1 equal to Tonic's plus the events Tonic drops; for denoise, the same events kept (on
a stream where the two definitions coincide).

Ours and Tonic's are timed in turns (``turns.in_turns``): per round each side makes as many
calls as fill 20 ms, and each keeps its best round (per-call time; the median is kept too).

    python scripts/bench_framing.py [--quick] [--repeats N] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from turns import in_turns, load_average, timeable

from snn_transfer.events.core import make_events
from snn_transfer.events.framing import ToFrame
from snn_transfer.events.transforms import Denoise

DURATION_US = 1_000_000
N_BINS = 10
FILTER_TIME_US = 10_000
# (what, events, width, height, duration in us): the sizes of real recordings
RECORDINGS = (
    ("N-MNIST-like", 4_325, 34, 34, 310_000),
    ("N-Caltech101-like", 200_000, 240, 180, 300_000),
    ("CIFAR10-DVS-like", 300_000, 128, 128, 1_300_000),
)
LARGE = tuple(
    ("synthetic", n, w, h, DURATION_US)
    for n in (1_000_000, 10_000_000)
    for w, h in ((240, 180), (128, 128))
)


def random_events(
    n: int,
    width: int,
    height: int,
    rng: np.random.Generator,
    *,
    distinct_times: bool = False,
    duration_us: int = DURATION_US,
) -> np.ndarray:
    """``n`` uniformly random events over ``duration_us``, sorted by time."""
    if distinct_times:  # starts at the filter time, no equal timestamps
        t = FILTER_TIME_US + np.sort(rng.choice(10 * duration_us, n, replace=False))
    else:
        t = np.sort(rng.integers(0, duration_us, n))
    x, y, p = rng.integers(0, width, n), rng.integers(0, height, n), rng.integers(0, 2, n)
    return make_events(x, y, t, p)


def frames_agree(ours: np.ndarray, theirs: np.ndarray, events: np.ndarray) -> bool:
    """Ours equals Tonic's frames plus the trailing events Tonic drops, all in the last bin."""
    theirs = theirs.astype(np.int64)
    dropped = events[int(theirs.sum()) :]  # contiguous bins from t_first: only the tail
    expected = theirs.copy()
    np.add.at(expected[-1], (dropped["p"].astype(np.intp), dropped["y"], dropped["x"]), 1)
    return ours.dtype == np.float32 and np.array_equal(ours, expected)


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n / 1000:g}k"


def compare(ours, theirs, rounds: int) -> dict[str, Any]:
    """Per-call seconds of both, timed in turns, as the row fields; no ratio (None) when a
    round was too short to time (``turns.timeable``)."""
    timing = in_turns({"ours": ours, "tonic": theirs}, rounds)
    ratio = timing["tonic"]["best"] / timing["ours"]["best"] if timeable(timing) else None
    return {
        "ours_s": timing["ours"]["best"],
        "tonic_s": timing["tonic"]["best"],
        "ours_median_s": timing["ours"]["median"],
        "tonic_median_s": timing["tonic"]["median"],
        "calls_per_round": [timing["ours"]["calls"], timing["tonic"]["calls"]],
        "round_s": [timing["ours"]["round_s"], timing["tonic"]["round_s"]],
        "ratio": ratio,
    }


def bench_framing(case: tuple, rounds: int, rng) -> dict[str, Any]:
    import tonic

    what, n, width, height, duration = case
    events = random_events(n, width, height, rng, duration_us=duration)
    ours = ToFrame(sensor_size=(width, height, 2), n_time_bins=N_BINS)
    theirs = tonic.transforms.ToFrame(sensor_size=(width, height, 2), n_time_bins=N_BINS)
    agree = frames_agree(ours(events), theirs(events), events)  # before any timing
    row = compare(lambda: ours(events), lambda: theirs(events), rounds)
    return {
        "case": what,
        "events": n,
        "width": width,
        "height": height,
        "duration_us": duration,
        **row,
        "ours_us": row["ours_s"] * 1e6,
        "tonic_us": row["tonic_s"] * 1e6,
        "ours_mev_s": n / row["ours_s"] / 1e6,
        "tonic_mev_s": n / row["tonic_s"] / 1e6,
        "agree": agree,
    }


def bench_denoise(n: int, width: int, height: int, rounds: int, rng) -> dict[str, Any]:
    import tonic

    events = random_events(n, width, height, rng, distinct_times=True)
    ours = Denoise(filter_time=FILTER_TIME_US)
    theirs = tonic.transforms.Denoise(filter_time=FILTER_TIME_US)
    kept = ours(events)
    agree = bool(np.array_equal(kept, theirs(events)))
    row = compare(lambda: ours(events), lambda: theirs(events), rounds)
    return {
        "events": n,
        "width": width,
        "height": height,
        "filter_time_us": FILTER_TIME_US,
        "kept": len(kept),
        **row,
        "ours_mev_s": n / row["ours_s"] / 1e6,
        "tonic_mev_s": n / row["tonic_s"] / 1e6,
        "agree": agree,
    }


def line(kind: str, row: dict[str, Any]) -> str:
    what = f" {row['case']}" if "case" in row else ""
    head = (
        f"{kind}{what} {label(row['events'])} ev {row['width']}x{row['height']}: "
        f"ours {row['ours_mev_s']:.1f} Mev/s ({row['ours_s'] * 1e6:,.0f} us), "
        f"tonic {row['tonic_mev_s']:.1f} Mev/s ({row['tonic_s'] * 1e6:,.0f} us), "
    )
    if row["ratio"] is None:
        return head + "no ratio: a round was too short to time"
    return head + f"{row['ratio']:.1f}x" + ("" if row["agree"] else "  OUTPUTS DIFFER")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="recording sizes, 3 rounds")
    parser.add_argument("--repeats", type=int, default=None, help="rounds in turns (default 7)")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="write results")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import tonic

    cases = RECORDINGS if args.quick else RECORDINGS + LARGE
    denoise_n = 2_000 if args.quick else 100_000
    rounds = args.repeats or (3 if args.quick else 7)
    rng = np.random.default_rng(args.seed)
    load_start = load_average()

    framing = []
    for case in cases:
        # Tonic needs ~0.6 s per 10M events; fewer rounds there keep the run short
        row = bench_framing(case, rounds if case[1] < 10**7 else min(rounds, 3), rng)
        print(line("framing", row), flush=True)
        framing.append(row)
    denoise = bench_denoise(denoise_n, 240, 180, rounds, rng)
    print(line("denoise", denoise), flush=True)

    result = {
        "quick": args.quick,
        "repeats": rounds,
        "timing": "in turns, best round (per call: the mean of the calls filling 20 ms)",
        "n_time_bins": N_BINS,
        "versions": {"numpy": np.__version__, "tonic": tonic.__version__},
        "load_average": [load_start, load_average()],
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
