"""Run every benchmark script, collect their JSON, and render BENCHMARKS.md.

    python scripts/bench_all.py                   # full sizes (tens of minutes on a CPU)
    python scripts/bench_all.py --quick           # every script at its test size
    python scripts/bench_all.py --only framing reading --threads 1
    python scripts/bench_all.py --render-only     # rebuild BENCHMARKS.md from the JSON

Each script runs as a subprocess with ``--json benchmarks/results/<name>.json`` (and
``--quick``, and ``--threads`` where it has one); its output is shown as it comes and kept in
``<name>.log``. A failing script is recorded (exit status, last line of its output) and the
run goes on; a CUDA-only script is skipped with the reason where torch sees no GPU. A
script's old JSON is removed before it runs, so a failure never leaves stale figures behind.
``run.json`` records the machine and, per script, the command, status, duration and time;
``scripts/render_benchmarks.py`` turns all of it into the page.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import json
import os
import platform
import shlex
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from render_benchmarks import REPO, SCRIPTS, SECTIONS, render  # noqa: E402

PACKAGES = ("torch", "tonic", "spikingjelly", "numpy", "h5py", "cupy-cuda13x", "cupy-cuda12x")


@dataclass(frozen=True)
class Bench:
    """One benchmark script: ``scripts/bench_<name>.py`` and what it accepts."""

    name: str
    threads: bool = False  # accepts --threads N
    cuda_only: bool = False

    @property
    def script(self) -> Path:
        return REPO / SCRIPTS.get(self.name, f"scripts/bench_{self.name}.py")


BENCHES: tuple[Bench, ...] = (
    Bench("framing"),
    Bench("reading"),
    Bench("preprocess"),
    Bench("cache"),
    Bench("training", threads=True),
    Bench("models", threads=True),
    Bench("kernels", cuda_only=True),
    Bench("gpu_estimate"),
)
assert [b.name for b in BENCHES] == list(SECTIONS)


def now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def cuda_device() -> str | None:
    """The name of the GPU torch sees, or None."""
    done = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.cuda.get_device_name(0))"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def machine(gpu: str | None) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    memory = None
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in info if ln.startswith("model name")), cpu
            )
        with open("/proc/meminfo") as info:
            memory = int(next(ln for ln in info if ln.startswith("MemTotal")).split()[1]) / 2**20
    except (OSError, StopIteration):
        pass
    versions = {}
    for package in PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[package] = importlib.metadata.version(package)
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gib": memory,
        "gpu": gpu,
        "system": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "load_start": load_average(),
    }


def command_for(bench: Bench, args: argparse.Namespace, out: Path) -> list[str]:
    command = [sys.executable, str(bench.script), "--json", str(out)]
    if args.quick:
        command.append("--quick")
    if bench.threads and args.threads:
        command += ["--threads", str(args.threads)]
    return command


def shown(command: list[str]) -> str:
    """The command as a reader would type it from the repository root (without ``--note``)."""
    parts = ["python", *command[1:]]
    if "--note" in parts:
        at = parts.index("--note")
        del parts[at : at + 2]
    return shlex.join(os.path.relpath(p, REPO) if p.startswith(str(REPO)) else p for p in parts)


def run_bench(bench: Bench, args: argparse.Namespace, gpu: str | None) -> dict[str, Any]:
    """Run one script; returns its ``run.json`` entry."""
    out = args.results / f"{bench.name}.json"
    command = command_for(bench, args, out)
    entry: dict[str, Any] = {"command": shown(command), "quick": args.quick, "started": now()}
    if bench.cuda_only and gpu is None:
        print(f"== {bench.name}: skipped, no CUDA GPU", flush=True)
        return {**entry, "status": "skipped", "reason": "no CUDA GPU on this machine"}
    out.unlink(missing_ok=True)
    print(f"== {bench.name}: {entry['command']}", flush=True)
    start = time.perf_counter()
    lines: list[str] = []
    with (args.results / f"{bench.name}.log").open("w") as log:
        process = subprocess.Popen(
            command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        watchdog = threading.Timer(args.timeout, process.kill)
        watchdog.start()
        try:
            for line in process.stdout:
                sys.stdout.write(line)
                sys.stdout.flush()
                log.write(line)
                lines.append(line.rstrip("\n"))
            code = process.wait()
        except KeyboardInterrupt:
            process.kill()
            raise
        finally:
            watchdog.cancel()
    seconds = time.perf_counter() - start
    entry.update(seconds=round(seconds, 1), finished=now(), exit=code)
    if seconds >= args.timeout:
        entry.update(status="failed", reason=f"stopped after the {args.timeout} s time limit")
    elif code != 0:
        last = next((ln for ln in reversed(lines) if ln.strip()), "no output")
        entry.update(status="failed", reason=f"exit {code}: {last}")
    elif not out.exists():
        entry.update(status="failed", reason="it wrote no JSON")
    else:
        entry["status"] = "ok"
    if entry["status"] != "ok":
        print(f"== {bench.name}: FAILED ({entry['reason']})", flush=True)
    return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = [b.name for b in BENCHES]
    parser.add_argument("--quick", action="store_true", help="every script at its test size")
    parser.add_argument("--only", nargs="+", choices=names, help="run these scripts only")
    parser.add_argument("--skip", nargs="+", choices=names, default=[], help="leave these out")
    parser.add_argument("--threads", type=int, default=0, help="torch threads where supported")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per script")
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md", help="the page")
    parser.add_argument("--note", default=None, help="a remark for the page's machine section")
    parser.add_argument("--render-only", action="store_true", help="render, measure nothing")
    args = parser.parse_args(argv)
    args.results.mkdir(parents=True, exist_ok=True)
    run_path = args.results / "run.json"

    if not args.render_only:
        run = json.loads(run_path.read_text()) if run_path.exists() else {}
        gpu = cuda_device()
        started, clock = now(), time.perf_counter()
        run.update(
            started=started,
            command=shown([sys.executable, str(Path(__file__).resolve()), *(argv or sys.argv[1:])]),
            machine=machine(gpu),
        )
        run["note"] = args.note
        benchmarks = run.setdefault("benchmarks", {})
        chosen = [
            b
            for b in BENCHES
            if (args.only is None or b.name in args.only) and b.name not in args.skip
        ]
        for bench in chosen:
            benchmarks[bench.name] = run_bench(bench, args, gpu)
            run_path.write_text(json.dumps(run, indent=1))  # progress survives a crash
        run.update(
            finished=now(), seconds=round(time.perf_counter() - clock, 1), load_end=load_average()
        )
        run_path.write_text(json.dumps(run, indent=1))
        statuses = {b.name: benchmarks[b.name]["status"] for b in chosen}
        summary = ", ".join(f"{name} {status}" for name, status in statuses.items())
        print(f"== done in {run['seconds']:.0f} s: {summary}", flush=True)
    args.out.write_text(render(args.results))
    print(f"== wrote {args.out}", flush=True)
    return 1 if not args.render_only and "failed" in statuses.values() else 0


if __name__ == "__main__":
    raise SystemExit(main())
