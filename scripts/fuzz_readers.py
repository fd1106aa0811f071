"""Fuzz the event-file readers with damaged files and print what came back.

For every format (``atis``, ``aedat4``, ``aedat2``, ``gesture-npy``, ``hdf5``) and every kind
of damage (``truncate``: cut at a random byte, half of the time inside the first KiB;
``bitflip``: 1-8 flipped bits, half of them inside the first 512 bytes; ``random``: random
bytes, after no prefix, a short prefix or a random-length prefix of a valid file) the script
builds ``--cases`` files, seeded and deterministic (case ``i`` of a format and kind is the
same on every run with the same ``--seed``). The valid files they start from are fakes
written by our own writers and the real recordings of ``scripts/fetch_samples.sh`` under
``.samples/tonic/`` (or ``$SNN_TRANSFER_SAMPLES``) when they are there.

Each case is read whole (``read_events``) and in chunks of 97 events (``iter_events``). It
must either give a valid stream (``EVENT_DTYPE``, coordinates non-negative and inside the
declared sensor, timestamps non-negative and sorted, the chunks equal to the whole read) or
raise ``EventFormatError``. Anything else counts as "other": another exception type (Rust
panics of the ``aedat`` decoder included), an invalid stream, a case that runs longer than
``--timeout`` seconds (the cases run in a child process, which is killed and restarted), or
one whose traced allocations (``tracemalloc``: Python and numpy memory) exceed 64 MiB plus
64 times the file size. The child's address space is also capped (``--memory-mib``), so an
allocation without bound fails instead of exhausting the machine.

The table lists per format and kind: cases, valid streams, EventFormatError, other (must
be 0), the slowest case and the largest traced peak; below it the child's peak resident
memory and the first "other" cases in full. Exit status 1 when any case is "other".

    python scripts/fuzz_readers.py --cases 2000          # 30,000 cases
    python scripts/fuzz_readers.py --quick               # 20 per format and kind
    python scripts/fuzz_readers.py --atheris 20000       # coverage-guided, optional

``--atheris RUNS`` first runs atheris (coverage-guided libFuzzer for Python; not a
dependency of the package: ``pip install atheris``, which installs and works on Python 3.11
with atheris 3.0.0) for RUNS inputs per format, seeded with the same valid files (cut to 64
KiB), in a child process per format with libFuzzer's per-input timeout and RSS limit. A
crash (an exception other than ``EventFormatError``, or an invalid stream) ends that
format's run with libFuzzer's report and makes the exit status 1. ``--cases 0 --atheris N``
runs atheris alone.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FORMATS = ("atis", "aedat4", "aedat2", "gesture-npy", "hdf5")
KINDS = ("truncate", "bitflip", "random")
# format -> (suffix, sensor size, timestamp unit in us the format stores exactly)
FAKES = {
    "atis": (".bin", (34, 34, 2), 1),
    "aedat4": (".aedat4", (128, 128, 2), 1),
    "aedat2": (".aedat", (128, 128, 2), 1),
    "gesture-npy": (".npy", (128, 128, 2), 1000),
    "hdf5": (".h5", (240, 180, 2), 1),
}
# real recordings of tonic 1.6.0's sdist (scripts/fetch_samples.sh)
REAL = {
    "atis": "sample_nmnist.bin",
    "aedat4": "sample.aedat4",
    "aedat2": "sample_aedat_header.aedat",
}
HEAD_BYTES = 512
CHUNK = 97
BUDGET_BYTES = 64 << 20
BUDGET_PER_BYTE = 64


def samples_folder() -> Path:
    return Path(os.environ.get("SNN_TRANSFER_SAMPLES", REPO / ".samples" / "tonic"))


def write_bases(folder: Path, seed: int, events: int = 300) -> dict[str, list[tuple[str, str]]]:
    """Valid files to damage: per format ``[(label, path), ...]`` (a fake, plus the real
    recording when present)."""
    from snn_transfer.events.core import make_events
    from snn_transfer.events.io import write_events

    rng = np.random.default_rng(seed)
    bases: dict[str, list[tuple[str, str]]] = {}
    for format, (suffix, sensor, unit) in FAKES.items():
        width, height, polarities = sensor
        t = np.sort(rng.integers(0, 300_000 // unit, events)) * unit
        stream = make_events(
            rng.integers(0, width, events),
            rng.integers(0, height, events),
            t,
            rng.integers(0, polarities, events),
        )
        path = folder / f"fake-{format}{suffix}"
        write_events(path, stream, format, sensor)
        bases[format] = [("fake", str(path))]
        real = samples_folder() / REAL.get(format, "-")
        if real.is_file():
            bases[format].append((f"real {real.name}", str(real)))
    return bases


def damage(data: bytes, kind: str, rng: np.random.Generator) -> bytes:
    """One damaged copy of ``data`` (deterministic in ``rng``)."""
    n = len(data)
    if kind == "truncate":
        high = min(n, 1024) if rng.random() < 0.5 else n
        return data[: int(rng.integers(0, max(high, 1)))]
    if kind == "bitflip":
        damaged = bytearray(data)
        for _ in range(int(rng.integers(1, 9))):
            span = min(n, HEAD_BYTES) if rng.random() < 0.5 else n
            damaged[int(rng.integers(0, span))] ^= 1 << int(rng.integers(0, 8))
        return bytes(damaged)
    if kind == "random":
        choice = rng.random()
        keep = 0 if choice < 1 / 3 else int(rng.integers(1, min(n, 64) + 1))
        if choice >= 2 / 3:
            keep = int(rng.integers(0, n + 1))
        body = rng.integers(0, 256, int(rng.integers(0, 4097)), dtype=np.uint8).tobytes()
        return data[:keep] + body
    raise ValueError(f"unknown kind {kind!r}; choose one of {KINDS}")


def case_bytes(bases, format: str, kind: str, index: int, seed: int) -> tuple[str, bytes]:
    label, path = bases[format][index % len(bases[format])]
    rng = np.random.default_rng([seed, FORMATS.index(format), KINDS.index(kind), index])
    return label, damage(Path(path).read_bytes(), kind, rng)


def invalid_stream(events: np.ndarray, sensor_size) -> str | None:
    """Why ``events`` is not a valid stream, or ``None``."""
    from snn_transfer.events.core import EVENT_DTYPE

    if events.dtype != EVENT_DTYPE:
        return f"dtype {events.dtype}"
    if len(events) == 0:
        return None
    for field in "xyp":
        if events[field].min() < 0:
            return f"negative {field}"
    if sensor_size is not None:
        for i, field in enumerate("xyp"):
            if events[field].max() >= sensor_size[i]:
                return f"{field} outside the sensor {sensor_size}"
    if events["t"][0] < 0 or np.any(np.diff(events["t"]) < 0):
        return "timestamps negative or unsorted"
    return None


def run_case(path: Path, format: str) -> tuple[str, str]:
    """``("valid" | "error" | "other", detail)`` for reading ``path`` both ways."""
    from snn_transfer.errors import EventFormatError
    from snn_transfer.events.io import iter_events, read_events

    def attempt(call):
        try:
            return "ok", call()
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as error:  # Rust panics are BaseException
            kind = "error" if isinstance(error, EventFormatError) else "other"
            return kind, error

    status, result = attempt(lambda: read_events(path, format=format))
    if status == "other":
        return "other", f"read: {type(result).__name__}: {result}"
    if status == "error" and str(path) not in str(result):
        return "other", f"read: the error does not name the file: {result}"
    chunked, chunks = attempt(lambda: list(iter_events(path, format, CHUNK)))
    if chunked == "other":
        return "other", f"iter: {type(chunks).__name__}: {chunks}"
    if chunked != status:
        return "other", f"read gave {status}, iter gave {chunked}: {result} / {chunks}"
    if status == "error":
        return "error", str(result)
    problem = invalid_stream(result.events, result.sensor_size)
    if problem:
        return "other", f"invalid stream: {problem}"
    if any(not 0 < len(c) <= CHUNK for c in chunks):
        return "other", "iter gave an empty or oversized chunk"
    from snn_transfer.events.core import EVENT_DTYPE

    joined = np.concatenate(chunks) if chunks else np.empty(0, EVENT_DTYPE)
    if not np.array_equal(joined, result.events):
        return "other", "the chunks differ from the whole read"
    return "valid", f"{len(result.events)} events"


# --- the child process: reads cases from stdin, answers one JSON line each ---------------


def worker(config: dict) -> None:
    import resource
    import tracemalloc

    limit = config["memory_mib"] << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import snn_transfer.events.io  # noqa: F401  (before the first case, not inside it)

    bases = {k: [tuple(b) for b in v] for k, v in config["bases"].items()}
    folder = Path(config["folder"])
    for line in sys.stdin:
        format, kind, index = line.split()
        label, data = case_bytes(bases, format, kind, int(index), config["seed"])
        path = folder / f"case{FAKES[format][0]}"
        path.write_bytes(data)
        tracemalloc.start()
        started = time.perf_counter()
        status, detail = run_case(path, format)
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        if status != "other" and peak > BUDGET_BYTES + BUDGET_PER_BYTE * len(data):
            status, detail = "other", f"traced peak {peak / 2**20:.1f} MiB for {len(data)} bytes"
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        answer = {
            "status": status,
            "panic": status == "error" and "decoder crashed" in detail,
            "detail": detail[:500],
            "seconds": seconds,
            "peak": peak,
            "rss_kib": rss,
            "base": label,
            "bytes": len(data),
        }
        print(json.dumps(answer), flush=True)


class Worker:
    """A child process running ``worker``; killed and restarted when a case hangs."""

    def __init__(self, config: dict) -> None:
        self.config = config
        self.process: subprocess.Popen | None = None
        self.peak_rss_kib = 0

    def start(self) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--worker", json.dumps(self.config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            env=env,
        )

    def run(self, format: str, kind: str, index: int, timeout: float) -> dict:
        if self.process is None or self.process.poll() is not None:
            self.start()
        assert self.process is not None and self.process.stdin and self.process.stdout
        started = time.perf_counter()
        self.process.stdin.write(f"{format} {kind} {index}\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            code = self.process.poll()
            self.stop()
            what = f"no answer within {timeout:g} s" if code is None else f"child died ({code})"
            return {
                "status": "other",
                "detail": what,
                "seconds": time.perf_counter() - started,
                "peak": 0,
                "rss_kib": 0,
                "base": "?",
                "bytes": -1,
            }
        answer = json.loads(line)
        self.peak_rss_kib = max(self.peak_rss_kib, answer["rss_kib"])
        return answer

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


def fuzz(args: argparse.Namespace) -> dict:
    """Run every case; return ``{"rows": [...], "others": [...], "peak_rss_mib": ...}``."""
    with tempfile.TemporaryDirectory(prefix="fuzz-bases-") as folder:
        bases = write_bases(Path(folder), args.seed)
        config = {
            "bases": bases,
            "seed": args.seed,
            "memory_mib": args.memory_mib,
            "folder": folder,  # the child writes its cases here; removed with the bases
        }
        child = Worker(config)
        rows, others = [], []
        try:
            for format in args.formats:
                for kind in args.kinds:
                    row = {
                        "format": format,
                        "kind": kind,
                        "bases": [label for label, _ in bases[format]],
                        "cases": 0,
                        "valid": 0,
                        "error": 0,
                        "other": 0,
                        "max_seconds": 0.0,
                        "max_peak_mib": 0.0,
                        "panics": 0,
                    }
                    for index in range(args.cases):
                        answer = child.run(format, kind, index, args.timeout)
                        row["cases"] += 1
                        row[answer["status"]] += 1
                        row["panics"] += answer.get("panic", False)
                        row["max_seconds"] = max(row["max_seconds"], answer["seconds"])
                        row["max_peak_mib"] = max(row["max_peak_mib"], answer["peak"] / 2**20)
                        if answer["status"] == "other":
                            others.append({"format": format, "kind": kind, "case": index, **answer})
                    rows.append(row)
                    print_row(row)
        finally:
            child.stop()
    return {"rows": rows, "others": others, "peak_rss_mib": child.peak_rss_kib / 1024}


HEADER = (
    f"{'format':<12} {'kind':<9} {'cases':>6} {'valid':>6} {'EventFormatError':>16} "
    f"{'other':>6} {'max s/case':>10} {'peak MiB':>9}"
)


def print_row(row: dict | None) -> None:
    if row is None:
        print(HEADER)
        print("-" * len(HEADER))
        return
    print(
        f"{row['format']:<12} {row['kind']:<9} {row['cases']:>6} {row['valid']:>6} "
        f"{row['error']:>16} {row['other']:>6} {row['max_seconds']:>10.3f} "
        f"{row['max_peak_mib']:>9.1f}",
        flush=True,
    )


# --- optional: atheris ------------------------------------------------------------------


def atheris_target(
    format: str,
    seed_files: list[str],
    folder: str,
    artifacts: str,
    seed: int,
    runs: int,
    timeout: int,
    rss_mb: int,
) -> None:
    """Run in a child: libFuzzer mutates from ``seed_files`` (cut to 64 KiB); any exception
    other than ``EventFormatError`` (or an invalid stream) is a crash."""
    import atheris

    with atheris.instrument_imports():
        from snn_transfer.errors import EventFormatError  # noqa: F401
        from snn_transfer.events.io import iter_events, read_events  # noqa: F401

    folder = Path(folder)  # the parent removes it: atheris.Fuzz() exits the process
    corpus = folder / f"corpus-{format}"
    corpus.mkdir()
    for i, seed_file in enumerate(seed_files):
        (corpus / f"seed{i}").write_bytes(Path(seed_file).read_bytes())
    path = folder / f"atheris-case{FAKES[format][0]}"

    def one(data: bytes) -> None:
        path.write_bytes(data)
        status, detail = run_case(path, format)
        if status == "other":
            raise RuntimeError(f"{format}: {detail}")

    atheris.Setup(
        [
            sys.argv[0],
            f"-runs={runs}",
            f"-seed={seed + 1}",  # libFuzzer takes 0 to mean "pick one"
            f"-timeout={timeout}",
            f"-rss_limit_mb={rss_mb}",
            "-max_len=65536",
            f"-artifact_prefix={artifacts}/{format}-",
            str(corpus),
        ],
        one,
    )
    atheris.Fuzz()


def run_atheris(args: argparse.Namespace) -> list[dict]:
    try:
        import atheris  # noqa: F401
    except ImportError as error:
        raise SystemExit(f"--atheris needs atheris (pip install atheris): {error}") from None
    results = []
    args.artifacts.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fuzz-bases-") as folder:
        bases = write_bases(Path(folder), args.seed)
        for format in args.formats:
            seed_files = [path for _, path in bases[format]]
            started = time.perf_counter()
            command = [
                sys.executable,
                __file__,
                "--atheris-child",
                json.dumps(
                    [
                        format,
                        seed_files,
                        folder,
                        str(args.artifacts),
                        args.seed,
                        args.atheris,
                        int(args.timeout) + 1,
                        2048,
                    ]
                ),
            ]
            done = subprocess.run(command, capture_output=True, text=True)
            lines = (done.stdout + done.stderr).strip().splitlines()
            # libFuzzer's last status line: "#N DONE cov: C ft: F corp: ..."
            status = next((x for x in reversed(lines) if re.match(r"#\d+\s+DONE", x)), "")
            results.append(
                {
                    "format": format,
                    "runs": args.atheris,
                    "crashed": done.returncode != 0,
                    "seconds": time.perf_counter() - started,
                    "status": status,
                    "tail": lines[-12:],
                }
            )
            state = f"CRASH ({done.returncode})" if done.returncode else "ok"
            print(
                f"atheris {format:<12} {args.atheris:>7} runs {state:<6} "
                f"{time.perf_counter() - started:6.0f} s  {status.split('DONE', 1)[-1].strip()}",
                flush=True,
            )
            if done.returncode:
                print("    " + "\n    ".join(lines[-12:]))
                print(f"    the input that crashed it is in {args.artifacts}/{format}-crash-*")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=200, help="cases per format and kind")
    parser.add_argument("--quick", action="store_true", help="20 cases per format and kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per case")
    parser.add_argument("--memory-mib", type=int, default=3072, help="child address space")
    parser.add_argument("--formats", nargs="+", default=list(FORMATS), choices=FORMATS)
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--atheris", type=int, default=0, metavar="RUNS")
    parser.add_argument(
        "--artifacts",
        type=Path,
        default=Path(tempfile.gettempdir()) / "snn-transfer-fuzz",
        help="where atheris writes the inputs that crashed a reader",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--atheris-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return 0
    if args.atheris_child:
        atheris_target(*json.loads(args.atheris_child))
        return 0
    if args.quick:
        args.cases = 20
    if args.cases < 0 or (args.cases == 0 and not args.atheris):
        parser.error("--cases must be >= 1 (0 only with --atheris)")
    if args.atheris:
        # before the table: a missing atheris should fail fast
        atheris_results = run_atheris(args)
    started = time.perf_counter()
    result: dict = {"rows": [], "others": [], "peak_rss_mib": 0.0}
    if args.cases:
        print(f"fuzzing {', '.join(args.formats)} x {', '.join(args.kinds)}: {args.cases} each")
        print_row(None)
        result = fuzz(args)
        total = sum(r["cases"] for r in result["rows"])
        bases = {r["format"]: ", ".join(r["bases"]) for r in result["rows"]}
        print(
            f"{total} cases in {time.perf_counter() - started:.0f} s; child peak RSS "
            f"{result['peak_rss_mib']:.0f} MiB; damaged files: "
            + "; ".join(f"{k}: {v}" for k, v in bases.items())
        )
        panics = sum(r["panics"] for r in result["rows"])
        print(f"Rust panics of the aedat decoder converted to EventFormatError: {panics}")
    result["seconds"] = time.perf_counter() - started
    if args.atheris:
        result["atheris"] = atheris_results
    for other in result["others"][:10]:
        print(
            f"OTHER {other['format']} {other['kind']} case {other['case']} "
            f"({other['base']}, {other['bytes']} bytes): {other['detail']}"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    crashed = any(a["crashed"] for a in result.get("atheris", []))
    return 1 if result["others"] or crashed else 0


if __name__ == "__main__":
    sys.exit(main())
