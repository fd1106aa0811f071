"""Benchmark: reading ATIS .bin files, ours (``read_atis``) against ``tonic.io.read_mnist_file``.

Both readers run in the same process on the same file, best of ``--repeats``; the output
must be equal field by field before any number is printed. Tonic is asked for our dtype
(``EVENT_DTYPE``) so both produce the same array; its N-MNIST dtype (four int64 fields) is
measured too.

    python scripts/bench_reading.py                 # 10 million events
    python scripts/bench_reading.py --quick         # 200 thousand events, seconds
    python scripts/bench_reading.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from snn_transfer.events.core import EVENT_DTYPE, make_events
from snn_transfer.events.io import read_atis, write_atis
from snn_transfer.events.io.atis import TIME_PERIOD

FULL_EVENTS = 10_000_000
QUICK_EVENTS = 200_000
TONIC_NMNIST_DTYPE = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])


def fake_atis_file(path: Path, n: int, seed: int = 0) -> None:
    """``n`` random N-Caltech101-like events (240x180, 23-bit timestamps, no markers)."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, TIME_PERIOD, n))
    events = make_events(rng.integers(0, 240, n), rng.integers(0, 180, n), t, rng.integers(0, 2, n))
    write_atis(path, events)


def best_of(repeats: int, function) -> tuple[float, object]:
    """Fastest wall time of ``repeats`` calls (seconds) and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"


def run(n: int, repeats: int) -> dict:
    import tonic.io

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bench.bin"
        fake_atis_file(path, n)
        ours_s, ours = best_of(repeats, lambda: read_atis(path).events)
        tonic_s, theirs = best_of(
            repeats, lambda: tonic.io.read_mnist_file(str(path), dtype=EVENT_DTYPE)
        )
        for field in "xytp":
            if not np.array_equal(ours[field], theirs[field]):
                raise SystemExit(f"outputs differ in field {field}: the benchmark is invalid")
        wide_s, _ = best_of(
            repeats, lambda: tonic.io.read_mnist_file(str(path), dtype=TONIC_NMNIST_DTYPE)
        )
    return {
        "events": n,
        "repeats": repeats,
        "ours_s": ours_s,
        "tonic_s": tonic_s,
        "tonic_nmnist_dtype_s": wide_s,
        "ours_mev_s": n / ours_s / 1e6,
        "tonic_mev_s": n / tonic_s / 1e6,
        "ratio": tonic_s / ours_s,
        "ratio_vs_nmnist_dtype": wide_s / ours_s,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_EVENTS:,} events")
    parser.add_argument("--events", type=int, default=None, help="number of events")
    parser.add_argument("--repeats", type=int, default=5, help="best of this many runs")
    parser.add_argument("--json", type=Path, default=None, help="write results to this file")
    args = parser.parse_args(argv)
    n = args.events or (QUICK_EVENTS if args.quick else FULL_EVENTS)
    result = run(n, args.repeats)
    print(
        f"reading ATIS {label(n)} ev: ours {result['ours_mev_s']:.1f} Mev/s, "
        f"tonic {result['tonic_mev_s']:.1f} Mev/s, {result['ratio']:.1f}x"
    )
    print(
        f"  (tonic with its N-MNIST int64 dtype: {n / result['tonic_nmnist_dtype_s'] / 1e6:.1f} "
        f"Mev/s, {result['ratio_vs_nmnist_dtype']:.1f}x; best of {args.repeats})"
    )
    if args.json:
        result["python"] = sys.version.split()[0]
        result["numpy"] = np.__version__
        result["machine"] = platform.machine()
        args.json.write_text(json.dumps({"atis": result}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
