"""Benchmark: reading ATIS .bin files, ours (``read_atis``) against ``tonic.io.read_mnist_file``.

At the sizes of real recordings: N-MNIST-like (4,325 events, 34x34, 0.31 s),
N-Caltech101-like (200k events, 240x180, 0.3 s), CIFAR10-DVS-like (300k events, 128x128,
1.3 s; CIFAR10-DVS is not an ATIS dataset, the size is what counts), then 1M and 10M events
at 240x180 (``--quick``: the three recording sizes, fewer rounds). One file per size, read
from the page cache (written just before).

Before any timing both outputs are compared field by field; a difference stops the script.
Tonic is asked for our dtype (``EVENT_DTYPE``), so both produce the same array; its N-MNIST
dtype (four int64 fields, what ``tonic.datasets.NMNIST`` asks for) and our reader with the
sensor size checked (what our dataset loaders do) are timed too. All of them are timed in
turns (``turns.in_turns``): per round each makes as many calls as fill 20 ms, and each keeps
its best round. A round too short to time prints no ratio.

    python scripts/bench_reading.py                 # the five sizes
    python scripts/bench_reading.py --quick         # the three recording sizes, 3 rounds
    python scripts/bench_reading.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from turns import in_turns, load_average, timeable

from snn_transfer.events.core import EVENT_DTYPE, make_events
from snn_transfer.events.io import read_atis, write_atis

TONIC_NMNIST_DTYPE = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
# (what, events, width, height, duration in us): the sizes of real recordings, then large
RECORDINGS = (
    ("N-MNIST-like", 4_325, 34, 34, 310_000),
    ("N-Caltech101-like", 200_000, 240, 180, 300_000),
    ("CIFAR10-DVS-like", 300_000, 128, 128, 1_300_000),
)
LARGE = (
    ("synthetic", 1_000_000, 240, 180, 1_000_000),
    ("synthetic", 10_000_000, 240, 180, 8_000_000),  # within the 23-bit counter: no markers
)


def fake_atis_file(path: Path, case: tuple, seed: int = 0) -> None:
    """A file of random, time-sorted events of the case's size (no overflow markers)."""
    _, n, width, height, duration = case
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, duration, n))
    x, y, p = rng.integers(0, width, n), rng.integers(0, height, n), rng.integers(0, 2, n)
    write_atis(path, make_events(x, y, t, p))


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n / 1000:g}k"


def run(case: tuple, rounds: int, directory: Path) -> dict[str, Any]:
    import tonic.io

    what, n, width, height, duration = case
    path = directory / f"{what}-{n}.bin"
    fake_atis_file(path, case)
    name, size = str(path), (width, height, 2)
    ours = read_atis(path).events
    theirs = tonic.io.read_mnist_file(name, dtype=EVENT_DTYPE)
    for field in "xytp":  # before any timing
        if not np.array_equal(ours[field], theirs[field]):
            raise SystemExit(f"{what}: outputs differ in field {field}: the benchmark is invalid")
    if not np.array_equal(read_atis(path, sensor_size=size).events, ours):
        raise SystemExit(f"{what}: the checked read differs: the benchmark is invalid")
    timing = in_turns(
        {
            "ours": lambda: read_atis(name),
            "tonic": lambda: tonic.io.read_mnist_file(name, dtype=EVENT_DTYPE),
            "ours_checked": lambda: read_atis(name, sensor_size=size),
            "tonic_nmnist_dtype": lambda: tonic.io.read_mnist_file(name, dtype=TONIC_NMNIST_DTYPE),
        },
        rounds,
    )
    best = {key: entry["best"] for key, entry in timing.items()}
    ok = timeable(timing)
    return {
        "case": what,
        "events": n,
        "width": width,
        "height": height,
        "duration_us": duration,
        "bytes": path.stat().st_size,
        "rounds": rounds,
        "ours_s": best["ours"],
        "tonic_s": best["tonic"],
        "ours_checked_s": best["ours_checked"],
        "tonic_nmnist_dtype_s": best["tonic_nmnist_dtype"],
        "median_s": {key: entry["median"] for key, entry in timing.items()},
        "calls_per_round": {key: entry["calls"] for key, entry in timing.items()},
        "ours_mev_s": n / best["ours"] / 1e6,
        "tonic_mev_s": n / best["tonic"] / 1e6,
        "ratio": best["tonic"] / best["ours"] if ok else None,
        "ratio_checked": best["tonic"] / best["ours_checked"] if ok else None,
        "ratio_vs_nmnist_dtype": best["tonic_nmnist_dtype"] / best["ours"] if ok else None,
        "agree": True,
    }


def line(row: dict[str, Any]) -> str:
    head = (
        f"reading ATIS {row['case']} {label(row['events'])} ev: "
        f"ours {row['ours_s'] * 1e6:,.0f} us ({row['ours_mev_s']:.1f} Mev/s), "
        f"tonic {row['tonic_s'] * 1e6:,.0f} us ({row['tonic_mev_s']:.1f} Mev/s), "
    )
    if row["ratio"] is None:
        return head + "no ratio: a round was too short to time"
    return head + (
        f"{row['ratio']:.1f}x (checked against the sensor: {row['ratio_checked']:.1f}x; "
        f"tonic with its int64 N-MNIST dtype: {row['ratio_vs_nmnist_dtype']:.1f}x)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="recording sizes, 3 rounds")
    parser.add_argument("--repeats", type=int, default=None, help="rounds in turns (default 7)")
    parser.add_argument("--json", type=Path, default=None, help="write results to this file")
    args = parser.parse_args(argv)

    import tonic

    cases = RECORDINGS if args.quick else RECORDINGS + LARGE
    rounds = args.repeats or (3 if args.quick else 7)
    load_start = load_average()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-reading-") as directory:
        for case in cases:
            # Tonic needs ~0.4 s per 10M events; fewer rounds there keep the run short
            row = run(case, rounds if case[1] < 10**7 else min(rounds, 3), Path(directory))
            print(line(row), flush=True)
            rows.append(row)
    result = {
        "quick": args.quick,
        "repeats": rounds,
        "timing": "in turns, best round (per call: the mean of the calls filling 20 ms)",
        "versions": {"numpy": np.__version__, "tonic": tonic.__version__},
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "load_average": [load_start, load_average()],
        "rows": rows,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
