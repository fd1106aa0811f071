"""Forward+backward time and peak memory of a model on CPU, eager vs torch.compile.

    python scripts/bench_models.py                      # vggsnn, T=10, B=16, 48x48
    python scripts/bench_models.py --quick --json out.json

Each variant runs in its own subprocess, so one variant's allocations, compile workers and
freed-but-kept heap never count for the other. A step is ``model(x, head="event")``, per-step
cross-entropy and ``backward()``; the time is the median over ``--repeats`` steps after
``--warmup`` steps (the compile happens in the first warm-up step and is reported apart).

Peak memory is the process's peak resident set size during the timed steps minus its resident
size just before them. Before the timed steps the gradients are dropped, ``malloc_trim`` hands
the warm-up's freed memory back to the OS, and the peak (VmHWM) is reset through
``/proc/self/clear_refs``, so the figure is what a step allocates (activations kept for the
backward, gradients, workspaces) and excludes construction, compilation and warm-up. torch's
CPU allocations are plain ``malloc``s that tracemalloc does not see, hence the RSS. Without
clear_refs the script falls back to ``ru_maxrss``, the peak since the process started.

The compiled variant also reports graph breaks found by ``torch._dynamo.explain``.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def _size(n_bytes: int) -> str:
    if n_bytes >= 1024**3:
        return f"{n_bytes / 1024**3:.2f} GB"
    return f"{n_bytes / 1024**2:.0f} MB"


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _trim_heap() -> None:
    # give freed warm-up memory back to the OS, so the resident size before the timed steps is
    # what is live, and the peak above it is what one step needs
    name = ctypes.util.find_library("c")
    if name:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(name).malloc_trim(0)


def _rss_bytes() -> int:
    try:
        return _status_kb("VmRSS") * 1024
    except (OSError, KeyError):
        return 0


def _peak_bytes(reset_worked: bool) -> tuple[int, str]:
    if reset_worked:
        return _status_kb("VmHWM") * 1024, "VmHWM after /proc/self/clear_refs"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "ru_maxrss since start"


def run_variant(args: argparse.Namespace) -> dict[str, Any]:
    """Measure one variant in this process; returns the JSON-able result."""
    import torch
    import torch.nn.functional as F

    from snn_transfer.models import count_parameters, create_model

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = create_model(args.model, args.classes, bn_mode=args.bn_mode)
    gen = torch.Generator().manual_seed(1)
    shape = (args.steps, args.batch, 2, args.size, args.size)
    x = (torch.rand(shape, generator=gen) > 0.8).float()
    labels = torch.randint(0, args.classes, (args.batch,), generator=gen)

    result: dict[str, Any] = {"variant": args.worker, "parameters": count_parameters(model)}
    forward = model
    if args.worker == "compiled":
        explained = torch._dynamo.explain(model)(x)
        result["graph_count"] = explained.graph_count
        result["graph_breaks"] = explained.graph_break_count
        result["break_reasons"] = [str(r.reason) for r in explained.break_reasons]
        torch._dynamo.reset()
        forward = torch.compile(model)

    def step() -> None:
        model.zero_grad(set_to_none=True)
        logits = forward(x, head="event")
        loss = torch.stack([F.cross_entropy(z, labels) for z in logits.unbind(0)]).mean()
        loss.backward()

    start = time.perf_counter()
    step()
    result["first_step_s"] = time.perf_counter() - start
    for _ in range(args.warmup - 1):
        step()
    model.zero_grad(set_to_none=True)
    _trim_heap()
    rss_before = _rss_bytes()
    reset_worked = _reset_peak()
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    peak, method = _peak_bytes(reset_worked)
    result.update(
        times_s=times,
        median_s=statistics.median(times),
        rss_before_bytes=rss_before,
        peak_rss_bytes=peak,
        peak_above_before_bytes=max(peak - rss_before, 0),
        memory_method=method,
        threads=torch.get_num_threads(),
    )
    return result


def _worker_command(args: argparse.Namespace, variant: str) -> list[str]:
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        variant,
        *("--model", args.model, "--classes", str(args.classes), "--bn-mode", args.bn_mode),
        *("--steps", str(args.steps), "--batch", str(args.batch), "--size", str(args.size)),
        *("--repeats", str(args.repeats), "--warmup", str(args.warmup)),
        *("--threads", str(args.threads)),
    ]


def _spawn(args: argparse.Namespace, variant: str) -> dict[str, Any]:
    done = subprocess.run(
        _worker_command(args, variant), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"the {variant} run failed (exit {done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(
    args: argparse.Namespace, eager: dict[str, Any], compiled: dict[str, Any] | None
) -> dict[str, Any]:
    """Print the comparison lines; return the summary written by ``--json``."""
    head = f"{args.model} T={args.steps} B={args.batch} {args.size}x{args.size}"
    summary: dict[str, Any] = {
        "model": args.model,
        "steps": args.steps,
        "batch": args.batch,
        "size": args.size,
        "classes": args.classes,
        "bn_mode": args.bn_mode,
        "eager": eager,
        "compiled": compiled,
        "speedup": None,
    }
    times = f"eager {eager['median_s']:.3f} s"
    memory = f"eager {_size(eager['peak_above_before_bytes'])}"
    if compiled is not None:
        summary["speedup"] = eager["median_s"] / compiled["median_s"]
        times += f", compiled {compiled['median_s']:.3f} s, {summary['speedup']:.2f}x"
        memory += f", compiled {_size(compiled['peak_above_before_bytes'])}"
    print(f"{head} fwd+bwd (median of {args.repeats}): {times}; peak memory {memory}")
    if compiled is not None:
        print(
            f"compile: first step {compiled['first_step_s']:.1f} s (eager first step "
            f"{eager['first_step_s']:.1f} s), graphs {compiled['graph_count']}, "
            f"graph breaks {compiled['graph_breaks']}"
        )
        for reason in compiled["break_reasons"]:
            print(f"  break: {reason}")
    print(
        f"memory: peak resident set size during the timed steps minus the resident size before "
        f"them ({eager['memory_method']}), one subprocess per variant; "
        f"{eager['threads']} torch thread(s), {eager['parameters']:,} parameters"
    )
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vggsnn")
    parser.add_argument("--classes", type=int, default=101)
    parser.add_argument("--bn-mode", default="shared", choices=("shared", "per_step"))
    parser.add_argument("--steps", type=int, default=10, help="time steps T")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=48, help="frame height and width")
    parser.add_argument("--repeats", type=int, default=3, help="timed steps")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps (>= 1)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--no-compile", action="store_true", help="measure eager only")
    parser.add_argument(
        "--quick", action="store_true", help="tiny model, T=2, B=2, 34x34, eager only: seconds"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--worker", choices=("eager", "compiled"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.warmup = max(args.warmup, 1)

    if args.worker:
        print(json.dumps(run_variant(args)))
        return 0
    if args.quick:
        args.model, args.classes, args.steps, args.batch, args.size = "tiny", 10, 2, 2, 34
        args.repeats, args.no_compile = 2, True
    eager = _spawn(args, "eager")
    compiled = None if args.no_compile else _spawn(args, "compiled")
    summary = report(args, eager, compiled)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
