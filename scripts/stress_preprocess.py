"""Preprocess many synthetic event files and report the time and peak memory.

Builds N small ATIS recordings (default 10,000; ``--quick``: 200) in a temporary folder laid
out as the ``folder`` dataset entry expects (``<root>/<class>/<recording>.bin``), runs
``snn-events preprocess folder`` on them in a child process, and reports the wall time, the
child's peak resident memory (``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``, which
includes its worker processes' largest) and the cache size. ``--json FILE`` writes the
numbers.

It also states the memory bound and checks it (exit status 1 when exceeded): the cache
builder's memory does not grow with the number of samples (one shard of frames at a time,
capped HDF5 caches; it grew by about 9.6 KiB per sample before), so the peak may be a
constant, plus two copies of one shard's frames, plus 1 KiB per file for the file list
that the dataset entry itself holds.

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


#: the constant part of the bound: interpreter, numpy, h5py, tqdm, the HDF5 caches (80 MiB),
#: and the compiled ATIS decoder: numba and LLVM loaded, about 130 MiB resident, of which
#: about 80 MiB is library code that processes share
BOUND_BASE_MIB = 210
#: the part that grows with the number of files: the sorted file list (names, sizes, labels)
BOUND_PER_FILE_KIB = 1
SHARD_SIZE = 64  # snn-events preprocess --shard-size default
SENSOR = (34, 34)


def peak_bound_mib(files: int, frames: int) -> float:
    """The most resident memory preprocessing ``files`` recordings into ``frames`` frames
    may take (MiB): a constant, two copies of one shard's float32 frames (the list and the
    stacked array), and :data:`BOUND_PER_FILE_KIB` per file."""
    shard = SHARD_SIZE * frames * 2 * SENSOR[0] * SENSOR[1] * 4 / 2**20
    return round(BOUND_BASE_MIB + 2 * shard + files * BOUND_PER_FILE_KIB / 1024, 1)


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
    bound = peak_bound_mib(n, frames)
    return {
        "files": n,
        "workers": workers,
        "frames": frames,
        "generate_seconds": round(generated, 2),
        "preprocess_seconds": round(seconds, 2),
        "files_per_second": round(n / seconds, 1),
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "peak_rss_bound_mib": bound,
        "within_bound": peak_kib / 1024 <= bound,
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
    print(
        f"memory bound: peak RSS <= {BOUND_BASE_MIB} MiB + 2 shards of frames + "
        f"{BOUND_PER_FILE_KIB} KiB per file = {report['peak_rss_bound_mib']} MiB for "
        f"{n} files; the cache builder's own memory does not grow with the number of files: "
        + ("within the bound" if report["within_bound"] else "EXCEEDED")
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0 if report["within_bound"] else 1


if __name__ == "__main__":
    sys.exit(main())
