"""Training throughput and peak memory of one transfer iteration: compiled vs eager, fused vs SJ.

One iteration is the trainer's own step (``snn_transfer.step.training_step``) in
``mode: transfer`` with the method's losses: the static batch (a V-channel image repeated over
T and both polarities) slid towards the event batch with probability 0.5
(``snn_transfer.sliding``), ONE forward of ``TrainingModule`` through both branches, the
objective (TET on both heads, linear-CKA alignment of every step weighted by STR), backward and
an AdamW step. The data loader is not part of it (``scripts/bench_cache.py`` measures reads).

    python scripts/bench_training.py          # vggsnn T=10 B=8 48x48 and tiny T=8 B=32 34x34
    python scripts/bench_training.py --quick --json out.json   # tiny T=2 B=4 34x34

Each variant (one model on one device, eager or ``torch.compile``, one neuron implementation)
lives in its own subprocess, so one variant's allocations, compile workers and freed-but-kept
heap never count for another; the memory helpers are those of ``scripts/bench_models.py``.
``compiled`` is what the trainer's ``compile: true`` does: the training module's forward is
compiled, the loss stays eager. The variants are built and warmed up one at a time (the compile
happens in the first of the ``--warmup`` iterations and is reported apart); then the timed
iterations are taken in turns, one of every variant per round, so that load from other
processes on the machine hits them alike. Throughput is event samples per second of the median
timed iteration. Peak memory on a CPU is the peak resident set size during the timed iterations
above the resident size before them (gradients dropped and the heap trimmed first); on CUDA it
is ``torch.cuda.max_memory_allocated`` during the timed iterations above what was allocated
before them.

Comparisons (ratio = ours / peer samples per second; > 1 means ours is faster):

* ``compiled`` vs ``eager``: our compiled training path against plain eager PyTorch;
* on CUDA, also the model's default neuron (our fused CuPy LIF, ``neuron_backend: auto``)
  against SpikingJelly 2.0's stock ``neuron.LIFNode`` (``neuron_backend: spikingjelly``).
  On a CPU the model's neuron IS SpikingJelly's ``LIFNode`` (its multi-step loop over T), so
  there is no neuron comparison there.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_models import _peak_bytes, _reset_peak, _rss_bytes, _size, _trim_heap  # noqa: E402

# (model, classes, T, batch, size): the VGG recipe's network (batch 8 keeps the whole CPU run
# of this script under ten minutes on two busy cores, compiles included), and tiny
FULL_CASES = (("vggsnn", 101, 10, 8, 48), ("tiny", 10, 8, 32, 34))
QUICK_CASES = (("tiny", 10, 2, 4, 34),)
SLIDE_P = 0.5
# (name, device, compiled, neuron_backend); the cuda ones run only where torch sees a GPU
VARIANTS = (
    ("eager", "cpu", False, "auto"),
    ("compiled", "cpu", True, "auto"),
    ("cuda-eager", "cuda", False, "auto"),
    ("cuda-compiled", "cuda", True, "auto"),
    ("cuda-eager-sj", "cuda", False, "spikingjelly"),
    ("cuda-compiled-sj", "cuda", True, "spikingjelly"),
)
# (ours, peer, what is compared)
COMPARISONS = (
    ("compiled", "eager", "CPU: torch.compile vs eager"),
    ("cuda-compiled", "cuda-eager", "CUDA: torch.compile vs eager (fused LIF)"),
    ("cuda-eager", "cuda-eager-sj", "CUDA eager: fused CuPy LIF vs SpikingJelly LIFNode"),
    ("cuda-compiled", "cuda-compiled-sj", "CUDA compiled: fused CuPy LIF vs SpikingJelly LIFNode"),
)


def build(args: argparse.Namespace, device, neuron_backend: str):
    """The trainer's module and optimizer for one case, and one batch: ``(module, optimizer,
    config, static, event, labels)`` with the frames ``[T, B, 2, H, W]`` on ``device``."""
    import torch

    from snn_transfer.optim import make_optimizer
    from snn_transfer.run_config import DataConfig, ModelConfig, TransferConfig
    from snn_transfer.training_module import TrainingModule, build_model

    config = TransferConfig(
        time_steps=args.steps,
        data=DataConfig(batch_size=args.batch),
        model=ModelConfig(name=args.model, options={"neuron_backend": neuron_backend}),
    )
    torch.manual_seed(0)
    module = TrainingModule(build_model(config, args.classes), None).to(device)
    optimizer = make_optimizer(module, config.optim, args.batch)
    gen = torch.Generator().manual_seed(1)
    shape = (args.steps, args.batch, 2, args.size, args.size)
    # event frames: sparse event counts; static: one V-channel image per sample, tiled
    counts = torch.poisson(torch.full(shape, 1.5), generator=gen)
    event = counts * (torch.rand(shape, generator=gen) < 0.3)
    image = torch.rand((1, args.batch, 1, args.size, args.size), generator=gen)
    static = image.expand(shape).contiguous()
    labels = torch.randint(0, args.classes, (args.batch,), generator=gen)
    return (module, optimizer, config, *(t.to(device) for t in (static, event, labels)))


def _send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def run_worker(args: argparse.Namespace) -> None:
    """One variant in this process: build and warm up, say ``ready``, then answer the parent's
    ``step`` (time one iteration) and ``finish`` (send the result) lines, one JSON line each."""
    import torch

    from snn_transfer.models import count_parameters, resolve_neuron_backend
    from snn_transfer.sliding import slide, slide_mask
    from snn_transfer.step import training_step

    name, device_type, compiled, neuron_backend = next(v for v in VARIANTS if v[0] == args.worker)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(device_type)
    cuda = device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    module, optimizer, config, static, event, labels = build(args, device, neuron_backend)
    forward = torch.compile(module) if compiled else module
    result: dict[str, Any] = {
        "variant": name,
        "device": device_type,
        "compiled": compiled,
        "neuron": resolve_neuron_backend(neuron_backend),
        "parameters": count_parameters(module),
    }
    draws = torch.Generator().manual_seed(2)

    def step() -> None:
        # the trainer's iteration: slide, one forward of both branches, objective, backward,
        # AdamW step
        mask = slide_mask("sample", SLIDE_P, args.batch, args.steps, draws).to(device)
        loss, _, _ = training_step(
            forward, optimizer, config.loss, slide(static, event, mask), event, labels
        )
        if not math.isfinite(loss.item()):
            raise RuntimeError(f"the loss is {loss.item()}")

    start = time.perf_counter()
    step()
    sync()
    result["first_step_s"] = time.perf_counter() - start
    for _ in range(args.warmup - 1):
        step()
    # the timed iterations allocate their gradients afresh, as every training iteration does
    optimizer.zero_grad(set_to_none=True)
    sync()
    _trim_heap()
    rss_before = _rss_bytes()
    allocated_before = 0
    if cuda:
        allocated_before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    reset_worked = _reset_peak()
    _send({"ready": True})
    times = []
    for line in sys.stdin:
        if line.strip() != "step":
            break
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
        _send({"s": times[-1]})
    if cuda:
        peak = torch.cuda.max_memory_allocated(device)
        result.update(
            peak_bytes=max(peak - allocated_before, 0),
            memory_before_bytes=allocated_before,
            memory_method="torch.cuda.max_memory_allocated above the allocation before",
        )
    else:
        peak, method = _peak_bytes(reset_worked)
        result.update(
            peak_bytes=max(peak - rss_before, 0),
            memory_before_bytes=rss_before,
            peak_rss_bytes=peak,
            memory_method=f"peak RSS above the RSS before ({method})",
        )
    median = statistics.median(times)
    result.update(
        times_s=times,
        median_s=median,
        best_s=min(times),
        samples_per_s=args.batch / median,
        compile_s=max(result["first_step_s"] - median, 0.0) if compiled else 0.0,
        threads=torch.get_num_threads(),
    )
    _send(result)


class Worker:
    """A variant's subprocess, driven line by line. Its stderr goes to a temporary file, so a
    chatty compiler cannot fill a pipe and stall it."""

    def __init__(self, args: argparse.Namespace, case: tuple, variant: str) -> None:
        model, classes, steps, batch, size = case
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            *("--worker", variant, "--model", model, "--classes", str(classes)),
            *("--steps", str(steps), "--batch", str(batch), "--size", str(size)),
            *("--warmup", str(args.warmup), "--threads", str(args.threads)),
        ]
        self.variant = variant
        self.error: str | None = None
        self.stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True
        )

    def ask(self, command: str | None) -> dict[str, Any] | None:
        """Send ``command`` (None: only read) and return the answer; None once it failed."""
        if self.error is not None:
            return None
        line = ""
        try:
            if command is not None:
                self.process.stdin.write(command + "\n")
                self.process.stdin.flush()
            line = self.process.stdout.readline()
        except OSError:  # a broken pipe: the worker died
            pass
        if line:
            return json.loads(line)
        self.process.wait()
        self.stderr.seek(0)
        text = self.stderr.read()
        sys.stderr.write(text)
        self.error = (text.strip().splitlines() or [f"exit {self.process.returncode}"])[-1]
        return None

    def close(self) -> dict[str, Any]:
        answer = self.ask("finish")
        with contextlib.suppress(OSError):  # a dead worker leaves unsent bytes behind
            self.process.stdin.close()
        self.process.wait()
        self.stderr.close()
        return {"variant": self.variant, "error": self.error} if answer is None else answer


def measure(args: argparse.Namespace, case: tuple, names: list[str]) -> dict[str, dict]:
    """Every variant of ``case``, each in its own live subprocess: started (built, compiled,
    warmed up) one at a time, then timed in turns, one iteration of each per round."""
    workers = []
    for name in names:
        worker = Worker(args, case, name)
        worker.ask(None)  # its "ready": the next one starts compiling only now
        workers.append(worker)
    for _ in range(args.repeats):
        for worker in workers:
            worker.ask("step")
    return {worker.variant: worker.close() for worker in workers}


def compare(variants: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per comparison whose two variants both ran (ratio = ours / peer samples/s)."""
    rows = []
    for ours, peer, what in COMPARISONS:
        a, b = variants.get(ours), variants.get(peer)
        if a is None or b is None or "error" in a or "error" in b:
            continue
        rows.append(
            {
                "comparison": what,
                "ours": ours,
                "peer": peer,
                "ours_samples_per_s": a["samples_per_s"],
                "peer_samples_per_s": b["samples_per_s"],
                "ratio": a["samples_per_s"] / b["samples_per_s"],
                "ours_peak_bytes": a["peak_bytes"],
                "peer_peak_bytes": b["peak_bytes"],
                "memory_ratio": a["peak_bytes"] / b["peak_bytes"] if b["peak_bytes"] else None,
            }
        )
    return rows


def run_case(args: argparse.Namespace, case: tuple, names: list[str]) -> dict[str, Any]:
    model, classes, steps, batch, size = case
    head = f"{model} T={steps} B={batch} {size}x{size}"
    variants = measure(args, case, names)
    for name, result in variants.items():
        if "error" in result:
            print(f"{head} {name}: FAILED: {result['error']}", flush=True)
            continue
        compile_note = f", compile {result['compile_s']:.1f} s" if result["compiled"] else ""
        print(
            f"{head} {name}: {result['samples_per_s']:.1f} samples/s "
            f"({result['median_s']:.3f} s/iteration), peak memory {_size(result['peak_bytes'])}"
            f"{compile_note}",
            flush=True,
        )
    rows = compare(variants)
    for row in rows:
        print(
            f"{head} {row['comparison']}: ours {row['ours_samples_per_s']:.1f}, peer "
            f"{row['peer_samples_per_s']:.1f} samples/s, {row['ratio']:.2f}x; peak memory ours "
            f"{_size(row['ours_peak_bytes'])}, peer {_size(row['peer_peak_bytes'])}",
            flush=True,
        )
    return {
        "model": model,
        "classes": classes,
        "steps": steps,
        "batch": batch,
        "size": size,
        "variants": variants,
        "comparisons": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny T=2 B=4 34x34, 3 iterations")
    parser.add_argument("--repeats", type=int, default=3, help="timed iterations")
    parser.add_argument("--warmup", type=int, default=1, help="untimed iterations (>= 1)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--no-compile", action="store_true", help="eager variants only")
    parser.add_argument("--no-cuda", action="store_true", help="CPU variants only")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="write results")
    # one variant of one case, in a subprocess of the run above
    parser.add_argument("--worker", choices=[v[0] for v in VARIANTS], help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--classes", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.warmup = max(args.warmup, 1)

    if args.worker:
        run_worker(args)
        return 0

    import torch

    cuda = torch.cuda.is_available() and not args.no_cuda
    names = [
        name
        for name, device, compiled, _ in VARIANTS
        if (device == "cpu" or cuda) and not (compiled and args.no_compile)
    ]
    cases = QUICK_CASES if args.quick else FULL_CASES
    results = [run_case(args, case, names) for case in cases]
    errors = [
        f"{r['model']} {name}: {v['error']}"
        for r in results
        for name, v in r["variants"].items()
        if "error" in v
    ]
    methods = [
        v["memory_method"] for r in results for v in r["variants"].values() if "error" not in v
    ]
    print(
        f"samples/s: event samples per second of the median of {args.repeats} timed iterations, "
        f"variants in turns; memory: {methods[0] if methods else '-'}; one subprocess per variant"
    )
    summary = {
        "quick": args.quick,
        "repeats": args.repeats,
        "warmup": args.warmup,
        "threads": args.threads,
        "slide_probability": SLIDE_P,
        "cuda": torch.cuda.get_device_name(0) if cuda else None,
        "versions": {"torch": torch.__version__},
        "cases": results,
        "errors": errors,
    }
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=1))
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
