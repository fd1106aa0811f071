"""Training throughput and peak memory per sample of one transfer iteration: our compact path
vs our previous path, eager and compiled, float32 and bf16 (on CUDA also fused vs SJ).

One iteration is the trainer's own step (``snn_transfer.step.training_step``) in
``mode: transfer`` with the method's losses: the static batch (a V-channel image repeated over
T and both polarities) slid towards the event batch with probability 0.5
(``snn_transfer.sliding``), ONE forward of ``TrainingModule`` through both branches, the
objective (TET on both heads, linear-CKA alignment of every step weighted by STR), backward and
an AdamW step. The data loader is not part of it (``scripts/bench_cache.py`` measures reads).

    python scripts/bench_training.py                   # both maths, vggsnn T=10 48x48 B=8, 16
    python scripts/bench_training.py --math reference  # the reference's math only
    python scripts/bench_training.py --quick --json out.json   # tiny T=2 B=4 34x34

The math (``--math``): ``reference`` is what the reference computes: per-step BatchNorm
(``bn_mode: per_step``) with running statistics from both branches
(``model.bn_running_stats: both``); ``default`` is our default (``bn_mode: shared``, running
statistics from the event branch). The variants of each case:

* ``previous``, ``previous-compiled``: the modules' own forward (``compact: false``):
  SpikingJelly's layers, T BatchNorm calls per layer with per-step BatchNorm, float spikes and
  every neuron's per-step tensors kept for the backward. It is what training ran before the
  compact path, and the path whose throughput and memory were measured beside the
  reference's own ``train_epoch`` (see ``REFERENCE_VS_PREVIOUS``).
* ``eager``, ``compiled``: our default, the compact path (``snn_transfer.models.compact``:
  spikes kept as bits, BatchNorm and neuron recomputed in the backward, per-step BatchNorm as
  one call, membrane potentials kept only for the alignment layer);
* ``eager-bf16``, ``compiled-bf16``: the same under ``amp: bf16`` (autocast on the CPU too;
  the objective in float32).

On CUDA (``cuda-`` variants) the default neuron is our fused CuPy LIF, which the compact path
leaves to its own kernel (``cuda-eager`` runs the modules' forward with it); ``-sj`` is
SpikingJelly 2.0's ``LIFNode`` in the modules' forward (the previous path with its neuron),
``cuda-compact`` the compact path with the torch neuron loop (``neuron_backend:
spikingjelly``).

Each variant lives in its own subprocess, so one variant's allocations, compile workers and
freed-but-kept heap never count for another; the memory helpers are those of
``scripts/bench_models.py``. ``compiled`` is what the trainer's ``compile: true`` does: the
training module's forward is compiled, the loss stays eager. The variants are built and warmed
up one at a time (the compile happens in the first of the ``--warmup`` iterations and is
reported apart); then the timed iterations are taken in turns, one of every variant per round,
so that load from other processes on the machine hits them alike. Throughput is event samples
per second of the median timed iteration. Peak memory on a CPU is the peak resident set size
during the timed iterations above the resident size before them (gradients dropped and the heap
trimmed first); on CUDA it is ``torch.cuda.max_memory_allocated`` during the timed iterations
above what was allocated before them. Per sample: divided by the batch. After each timed iteration (untimed) a worker hands its freed
heap back to the system, so the workers waiting for their turn hold only what is live.

Comparisons (ratio = ours / peer samples per second; > 1 means ours is faster; memory ratio =
ours / peer peak memory): every variant of ours against ``previous``; compiled against
``previous-compiled`` and against ``eager``; on CUDA, the model's default neuron (our fused
CuPy LIF) against SpikingJelly 2.0's ``LIFNode`` (``neuron_backend: spikingjelly``, which on a
CPU is the model's neuron anyway). Against ``previous`` at the reference's math the script
also prints the ratio against the reference DERIVED from ``REFERENCE_VS_PREVIOUS`` (measured
earlier, not in this run).
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
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_models import _peak_bytes, _reset_peak, _rss_bytes, _size, _trim_heap  # noqa: E402

# (model, classes, T, batch, size): the N-Caltech101 recipe's network at batch 8 and 16
FULL_CASES = (("vggsnn", 101, 10, 8, 48), ("vggsnn", 101, 10, 16, 48))
QUICK_CASES = (("tiny", 10, 2, 4, 34),)
SLIDE_P = 0.5
# math -> (model.options.bn_mode, model.bn_running_stats)
MATHS = {"reference": ("per_step", "both"), "default": ("shared", "event")}
# The previous path (``previous``) at the reference's math, measured beside the reference's
# own train_epoch on the CPU (VGGSNN, T = 10, 48x48, B = 8 and 16, runs alternated), as
# (low, high) over those runs: previous / reference samples per second and peak memory. Not
# measured by this script: ratios against the reference are these times ours / previous.
REFERENCE_VS_PREVIOUS = {"samples_per_s": (1.1, 1.2), "peak_bytes": (0.91, 0.95)}


class Variant(NamedTuple):
    name: str
    device: str
    compiled: bool
    neuron_backend: str
    compact: bool
    amp: str


# the cuda ones run only where torch sees a GPU
VARIANTS = (
    Variant("previous", "cpu", False, "auto", False, "none"),
    Variant("previous-compiled", "cpu", True, "auto", False, "none"),
    Variant("eager", "cpu", False, "auto", True, "none"),
    Variant("compiled", "cpu", True, "auto", True, "none"),
    Variant("eager-bf16", "cpu", False, "auto", True, "bf16"),
    Variant("compiled-bf16", "cpu", True, "auto", True, "bf16"),
    Variant("cuda-eager-sj", "cuda", False, "spikingjelly", False, "none"),
    Variant("cuda-compiled-sj", "cuda", True, "spikingjelly", False, "none"),
    Variant("cuda-compact", "cuda", False, "spikingjelly", True, "none"),
    Variant("cuda-eager", "cuda", False, "auto", True, "none"),
    Variant("cuda-compiled", "cuda", True, "auto", True, "none"),
    Variant("cuda-eager-bf16", "cuda", False, "auto", True, "bf16"),
    Variant("cuda-compiled-bf16", "cuda", True, "auto", True, "bf16"),
)
# (ours, peer, what is compared)
COMPARISONS = (
    ("eager", "previous", "CPU eager: compact vs previous path"),
    ("compiled", "previous", "CPU: compact compiled vs previous path eager"),
    ("eager-bf16", "previous", "CPU: compact eager bf16 vs previous path"),
    ("compiled-bf16", "previous", "CPU: compact compiled bf16 vs previous path eager"),
    ("compiled", "previous-compiled", "CPU compiled: compact vs previous path"),
    ("compiled", "eager", "CPU: torch.compile vs eager (compact)"),
    ("cuda-eager", "cuda-eager-sj", "CUDA eager: fused CuPy LIF vs SpikingJelly LIFNode"),
    ("cuda-compiled", "cuda-compiled-sj", "CUDA compiled: fused CuPy LIF vs SpikingJelly LIFNode"),
    ("cuda-compact", "cuda-eager-sj", "CUDA eager: compact (torch LIF) vs SpikingJelly LIFNode"),
    ("cuda-compiled", "cuda-eager", "CUDA: torch.compile vs eager (fused LIF)"),
    ("cuda-eager-bf16", "cuda-eager", "CUDA eager: bf16 vs float32 (fused LIF)"),
    ("cuda-compiled-bf16", "cuda-eager-sj", "CUDA: fused compiled bf16 vs SpikingJelly LIFNode"),
)


def build(args: argparse.Namespace, device, variant: Variant):
    """The trainer's module and optimizer for one case, and one batch: ``(module, optimizer,
    config, static, event, labels)`` with the frames ``[T, B, 2, H, W]`` on ``device``."""
    import torch

    from snn_transfer.optim import make_optimizer
    from snn_transfer.run_config import DataConfig, ModelConfig, TransferConfig
    from snn_transfer.training_module import TrainingModule, build_model

    bn_mode, running_stats = MATHS[args.math]
    options = {"neuron_backend": variant.neuron_backend, "bn_mode": bn_mode}
    options["compact"] = variant.compact
    config = TransferConfig(
        time_steps=args.steps,
        data=DataConfig(batch_size=args.batch),
        model=ModelConfig(name=args.model, options=options, bn_running_stats=running_stats),
        amp=variant.amp,
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
    import functools

    import torch

    from snn_transfer.models import count_parameters, resolve_neuron_backend
    from snn_transfer.sliding import slide, slide_mask
    from snn_transfer.step import autocast, training_step

    variant = next(v for v in VARIANTS if v.name == args.worker)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(variant.device)
    cuda = device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    module, optimizer, config, static, event, labels = build(args, device, variant)
    forward = torch.compile(module) if variant.compiled else module
    mixed = functools.partial(autocast, config.amp, device)
    result: dict[str, Any] = {
        "variant": variant.name,
        "device": variant.device,
        "compiled": variant.compiled,
        "compact": variant.compact,
        "amp": variant.amp,
        "neuron": resolve_neuron_backend(variant.neuron_backend),
        "parameters": count_parameters(module),
    }
    draws = torch.Generator().manual_seed(2)

    def step() -> None:
        # the trainer's iteration: slide, one forward of both branches, objective, backward,
        # AdamW step
        mask = slide_mask("sample", SLIDE_P, args.batch, args.steps, draws).to(device)
        loss, _, _ = training_step(
            forward,
            optimizer,
            config.loss,
            slide(static, event, mask),
            event,
            labels,
            autocast=mixed,
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
        # untimed: hand freed memory back, so that the variants waiting for their turn hold
        # only what is live (six of them at batch 16 would not fit otherwise)
        _trim_heap()
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
        peak_bytes_per_sample=result["peak_bytes"] / args.batch,
        compile_s=max(result["first_step_s"] - median, 0.0) if variant.compiled else 0.0,
        threads=torch.get_num_threads(),
    )
    _send(result)


class Worker:
    """A variant's subprocess, driven line by line. Its stderr goes to a temporary file, so a
    chatty compiler cannot fill a pipe and stall it."""

    def __init__(self, args: argparse.Namespace, case: tuple, variant: str, math_: str) -> None:
        model, classes, steps, batch, size = case
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            *("--worker", variant, "--model", model, "--classes", str(classes)),
            *("--steps", str(steps), "--batch", str(batch), "--size", str(size)),
            *("--warmup", str(args.warmup), "--threads", str(args.threads)),
            *("--math", math_),
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


def measure(
    args: argparse.Namespace, case: tuple, names: list[str], math_: str = "reference"
) -> dict[str, dict]:
    """Every variant of ``case``, each in its own live subprocess: started (built, compiled,
    warmed up) one at a time, then timed in turns, one iteration of each per round."""
    workers = []
    for name in names:
        worker = Worker(args, case, name, math_)
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


def versus_reference(row: dict[str, Any]) -> dict[str, Any] | None:
    """For a comparison against ``previous`` at the reference's math: the ratios against the
    reference derived through ``REFERENCE_VS_PREVIOUS`` (low, high), else None."""
    if row["peer"] != "previous":
        return None
    speed = REFERENCE_VS_PREVIOUS["samples_per_s"]
    memory = REFERENCE_VS_PREVIOUS["peak_bytes"]
    derived = {"ratio": [row["ratio"] * f for f in speed]}
    if row["memory_ratio"] is not None:
        derived["memory_ratio"] = [row["memory_ratio"] * f for f in memory]
    return derived


def _span(values: list[float]) -> str:
    low, high = sorted(values)
    return f"{low:.2f}-{high:.2f}x"


def run_case(args: argparse.Namespace, case: tuple, names: list[str], math_: str) -> dict:
    model, classes, steps, batch, size = case
    head = f"{model} T={steps} B={batch} {size}x{size} {math_} math"
    variants = measure(args, case, names, math_)
    for name, result in variants.items():
        if "error" in result:
            print(f"{head} {name}: FAILED: {result['error']}", flush=True)
            continue
        compile_note = f", compile {result['compile_s']:.1f} s" if result["compiled"] else ""
        print(
            f"{head} {name}: {result['samples_per_s']:.2f} samples/s "
            f"({result['median_s']:.3f} s/iteration), peak memory {_size(result['peak_bytes'])}"
            f" ({_size(int(result['peak_bytes_per_sample']))}/sample){compile_note}",
            flush=True,
        )
    rows = compare(variants)
    for row in rows:
        memory = "-" if row["memory_ratio"] is None else f"{row['memory_ratio']:.2f}x"
        print(
            f"{head} {row['comparison']}: ours {row['ours_samples_per_s']:.2f}, peer "
            f"{row['peer_samples_per_s']:.2f} samples/s, {row['ratio']:.2f}x; peak memory ours "
            f"{_size(row['ours_peak_bytes'])}, peer {_size(row['peer_peak_bytes'])}, {memory}",
            flush=True,
        )
        derived = versus_reference(row) if math_ == "reference" else None
        if derived is not None:
            row["vs_reference_derived"] = derived
            memory = _span(derived["memory_ratio"]) if "memory_ratio" in derived else "-"
            print(
                f"{head} {row['ours']} vs the reference (derived, not measured here: x "
                f"previous/reference from REFERENCE_VS_PREVIOUS): samples/s "
                f"{_span(derived['ratio'])}, peak memory {memory}",
                flush=True,
            )
    return {
        "model": model,
        "classes": classes,
        "steps": steps,
        "batch": batch,
        "size": size,
        "math": math_,
        "bn_mode": MATHS[math_][0],
        "bn_running_stats": MATHS[math_][1],
        "variants": variants,
        "comparisons": rows,
    }


def selected(args: argparse.Namespace, cuda: bool) -> list[str]:
    """The variants this run measures, in ``VARIANTS`` order."""
    wanted = None if not args.variants else set(args.variants.split(","))
    unknown = (wanted or set()) - {v.name for v in VARIANTS}
    if unknown:
        raise SystemExit(f"--variants: unknown {sorted(unknown)}; see VARIANTS")
    names = []
    for v in VARIANTS:
        if wanted is not None and v.name not in wanted:
            continue
        if (v.device == "cuda" and not cuda) or (v.compiled and args.no_compile):
            continue
        if wanted is None and v.amp != "none" and args.no_bf16:
            continue
        names.append(v.name)
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny T=2 B=4 34x34, 3 iterations")
    parser.add_argument(
        "--math",
        choices=[*MATHS, "both"],
        default="both",
        help="reference: per-step BatchNorm, statistics from both branches; default: ours",
    )
    parser.add_argument("--batches", default="", help="batch sizes, e.g. 8,16 (default: 8,16)")
    parser.add_argument("--repeats", type=int, default=3, help="timed iterations")
    parser.add_argument("--warmup", type=int, default=1, help="untimed iterations (>= 1)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (0: default)")
    parser.add_argument("--no-compile", action="store_true", help="eager variants only")
    parser.add_argument("--no-bf16", action="store_true", help="float32 variants only")
    parser.add_argument("--no-cuda", action="store_true", help="CPU variants only")
    parser.add_argument("--variants", default="", help="comma-separated names (default: all)")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="write results")
    # one variant of one case, in a subprocess of the run above
    parser.add_argument("--worker", choices=[v.name for v in VARIANTS], help=argparse.SUPPRESS)
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
    names = selected(args, cuda)
    cases = QUICK_CASES if args.quick else FULL_CASES
    if args.batches:
        batches = [int(b) for b in args.batches.split(",")]
        cases = tuple((*c[:3], b, c[4]) for c in cases[:1] for b in batches)
    maths = list(MATHS) if args.math == "both" else [args.math]
    results = [run_case(args, case, names, m) for m in maths for case in cases]
    errors = [
        f"{r['model']} B={r['batch']} {r['math']} {name}: {v['error']}"
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
        "maths": {
            m: dict(zip(("bn_mode", "bn_running_stats"), MATHS[m], strict=True)) for m in maths
        },
        "reference_vs_previous": REFERENCE_VS_PREVIOUS,
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
