"""Benchmark: reading the Prophesee (.dat, EVT 2.0, EVT 3.0), DAVIS AEDAT 2.0 and ST-MNIST
.mat formats, ours against the peer Tonic offers for each.

Peers: ``expelliarmus.Wizard`` (shipped with Tonic) for .dat and .raw,
``tonic.io.read_davis_346`` for DAVIS346 AEDAT 2.0, ``scipy.io.loadmat`` alone (the floor
any .mat reader pays) for ST-MNIST. Each pair runs in the same process on the same file,
best of ``--repeats``; x, y, p (and t where the peer is right) must be equal before a
number is printed. Real samples come from ``scripts/fetch_samples.sh``; the synthetic files
are written in the real layouts by the tests' writers (``tests/native_layouts.py``).

    python scripts/bench_reading_formats.py            # 10 million synthetic events
    python scripts/bench_reading_formats.py --quick    # 200 thousand, seconds
    python scripts/bench_reading_formats.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the test-side writers of the real layouts

from native_layouts import (  # noqa: E402
    evt3_vector_groups,
    write_dat,
    write_davis_aedat2,
    write_raw,
)

from snn_transfer.events.core import EVENT_DTYPE, make_events  # noqa: E402
from snn_transfer.events.io import FORMATS, detect_format, read_events  # noqa: E402
from snn_transfer.events.io.base import StreamChecker  # noqa: E402

FULL_EVENTS = 10_000_000
QUICK_EVENTS = 200_000
SAMPLES = REPO / ".samples" / "tonic"


def best_of(repeats: int, function) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def random_stream(n: int, width: int, height: int, t_max: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, t_max, n))
    return make_events(
        rng.integers(0, width, n), rng.integers(0, height, n), t, rng.integers(0, 2, n)
    )


def same(ours: np.ndarray, theirs: np.ndarray, fields: str) -> bool:
    return len(ours) == len(theirs) and all(
        np.array_equal(ours[f].astype(np.int64), theirs[f].astype(np.int64)) for f in fields
    )


def as_checked_events(path: Path, theirs: np.ndarray) -> np.ndarray:
    """What wrapping a peer would cost on top of it: its array converted to ``EVENT_DTYPE``
    and given the checks our readers make (sensor, polarity, time order)."""
    events = np.empty(len(theirs), dtype=EVENT_DTYPE)
    for field in "xytp":
        events[field] = theirs[field]
    sensor = FORMATS[detect_format(path)].declared_sensor(path)
    return StreamChecker(path, sensor).check(events)


def measure(name: str, path: Path, peer, repeats: int, fields: str = "xytp") -> dict:
    ours_s, ours = best_of(repeats, lambda: read_events(path).events)
    peer_s, theirs = best_of(repeats, lambda: peer(path))
    if theirs is not None and not same(ours, theirs, fields):
        raise SystemExit(f"{name}: outputs differ in {fields}: the benchmark is invalid")
    row = {
        "file": name,
        "events": len(ours),
        "ours_ms": ours_s * 1e3,
        "peer_ms": peer_s * 1e3,
        "ratio": peer_s / ours_s,
        "compared": fields if theirs is not None else "",
    }
    if theirs is not None:
        wrapped_s, _ = best_of(repeats, lambda: as_checked_events(path, peer(path)))
        row["peer_wrapped_ms"] = wrapped_s * 1e3
        row["ratio_wrapped"] = wrapped_s / ours_s
    return row


def wizard(encoding: str):
    from expelliarmus import Wizard

    return lambda path: Wizard(encoding=encoding).read(str(path))


def davis_peer(path: Path):
    import tonic.io

    return tonic.io.read_davis_346(str(path))[2]


def loadmat_only(path: Path):
    from scipy.io import loadmat

    loadmat(path)


def run(n: int, repeats: int) -> list[dict]:
    rows = []
    if (SAMPLES / "sample_ncars.dat").exists():
        rows.append(
            measure("N-CARS sample .dat", SAMPLES / "sample_ncars.dat", wizard("dat"), repeats)
        )
    if (SAMPLES / "sample_stmnist.mat").exists():
        rows.append(
            measure("ST-MNIST sample .mat", SAMPLES / "sample_stmnist.mat", loadmat_only, repeats)
        )
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        events = random_stream(n, 304, 240, 60_000_000)
        write_dat(folder / "big.dat", events, (304, 240, 2))
        rows.append(measure("synthetic .dat", folder / "big.dat", wizard("dat"), repeats))
        events = random_stream(n, 640, 480, 60_000_000)
        write_raw(folder / "big2.raw", "evt2", events, (640, 480, 2))
        rows.append(measure("synthetic EVT 2.0", folder / "big2.raw", wizard("evt2"), repeats))
        words, _ = evt3_vector_groups(np.random.default_rng(0), n // 6)
        write_raw(folder / "big3.raw", "evt3", words=words, sensor_size=(1280, 720, 2))
        # expelliarmus' times are wrong past the first change of the high time bits
        rows.append(
            measure("synthetic EVT 3.0", folder / "big3.raw", wizard("evt3"), repeats, "xyp")
        )
        events = random_stream(n, 346, 260, 60_000_000)
        write_davis_aedat2(folder / "big.aedat", events)
        rows.append(
            measure("synthetic DAVIS346 AEDAT 2.0", folder / "big.aedat", davis_peer, repeats)
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_EVENTS:,} events")
    parser.add_argument("--events", type=int, default=None, help="synthetic events per file")
    parser.add_argument("--repeats", type=int, default=5, help="best of this many runs")
    parser.add_argument("--json", type=Path, default=None, help="write results to this file")
    args = parser.parse_args(argv)
    n = args.events or (QUICK_EVENTS if args.quick else FULL_EVENTS)
    rows = run(n, args.repeats)
    for row in rows:
        wrapped = (
            f", peer wrapped (EVENT_DTYPE + our checks) {row['peer_wrapped_ms']:.2f} ms, "
            f"{row['ratio_wrapped']:.2f}x"
            if "peer_wrapped_ms" in row
            else ""
        )
        print(
            f"{row['file']}: {row['events']:,} events, ours {row['ours_ms']:.2f} ms, "
            f"peer {row['peer_ms']:.2f} ms, {row['ratio']:.2f}x{wrapped} "
            f"(equal: {row['compared'] or '-'})"
        )
    print(f"(best of {args.repeats}; peers: expelliarmus, tonic.io.read_davis_346, loadmat)")
    if args.json:
        args.json.write_text(json.dumps({"reading_formats": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
