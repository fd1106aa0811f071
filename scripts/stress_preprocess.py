"""Preprocess many synthetic event files and report the time and peak memory.

Builds N small ATIS recordings (default 10,000; ``--quick``: 200) in a temporary folder laid
out as the ``folder`` dataset entry expects (``<root>/<class>/<recording>.bin``), runs
``snn-events preprocess folder`` on them in a child process, and reports the wall time, the
child's peak resident memory (``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``, which
includes its worker processes' largest) and the cache size. ``--json FILE`` writes the
numbers.

    python scripts/stress_preprocess.py --quick --json stress.json
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from snn_transfer.events.core import make_events
from snn_transfer.events.io import write_atis


def make_files(root: Path, n: int, *, classes: int = 10, events: int = 2_000, seed: int = 0):
    """``n`` recordings of ``events`` events on a 34x34 sensor, spread over ``classes``."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        folder = root / f"class{i % classes:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        t = np.sort(rng.integers(0, 300_000, events))
        stream = make_events(
            rng.integers(0, 34, events), rng.integers(0, 34, events), t, rng.integers(0, 2, events)
        )
        write_atis(folder / f"rec{i:06d}.bin", stream)


def run(n: int, workers: int, frames: int, work: Path) -> dict:
    root, out = work / "data", work / "cache.h5"
    started = time.perf_counter()
    make_files(root, n)
    generated = time.perf_counter() - started
    command = [
        sys.executable, "-m", "snn_transfer.events.cli", "preprocess", "folder",
        "--root", str(root), "--out", str(out), "--frames", str(frames), "--size", "0",
        "--sensor", "34", "34", "--workers", str(workers), "--quiet",
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"preprocess failed ({done.returncode}):\n{done.stderr}")
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux: KiB
    caches = sorted(work.glob("cache*.h5"))
    return {
        "files": n,
        "workers": workers,
        "frames": frames,
        "generate_seconds": round(generated, 2),
        "preprocess_seconds": round(seconds, 2),
        "files_per_second": round(n / seconds, 1),
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "cache_mib": round(sum(p.stat().st_size for p in caches) / 2**20, 2),
        "caches": [p.name for p in caches],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="200 files")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--json", type=Path, help="write the numbers to this file")
    args = parser.parse_args(argv)
    n = 200 if args.quick else args.files
    with tempfile.TemporaryDirectory(prefix="snn-stress-") as work:
        report = run(n, args.workers, args.frames, Path(work))
    for key, value in report.items():
        print(f"{key}: {value}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
