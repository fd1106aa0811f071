"""Fused LIF speed and memory: ours against SpikingJelly 2.0's LIFNode and a plain torch loop.

One VGGSNN-sized layer (input ``[T, B, 64, 48, 48]``, the paper's neuron: tau 2, threshold 0.5,
hard reset to 0, detached reset), forward + backward, for T in 4, 10, 32, float32 and bfloat16
input and every surrogate we fuse. Contenders, measured in the same run, each without and with
(``_v``) the post-reset potential of every step as a second output with its own gradient (what
the feature taps use):

* ``ours``: ``lif_multi_step`` on the fused kernels (``v_seq`` comes from the same launch);
* ``sj``: ``neuron.LIFNode`` as is (Triton or its native kernels for its 7 fused surrogates on
  float32; its Python loop for ``Rect`` and, as it keeps the state in the input dtype, for
  bfloat16); ``sj_f32`` (bfloat16 only): the same on input cast to float32, output cast back;
* ``loop``: the torch reference, a plain per-step loop under autograd (spikes only).

Times are medians of CUDA-event timings after warm-up; memory is the peak allocated during one
forward + backward above what was allocated before. Ratios > 1 mean ours is faster.

    python scripts/bench_kernels.py [--steps 4 10 32] [--batch 32] [--json PATH]
    python scripts/bench_kernels.py --device cpu --quick   # plumbing check, no GPU numbers
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from spikingjelly.activation_based import functional, neuron, surrogate

from snn_transfer.kernels.lif import lif_multi_step
from snn_transfer.kernels.parameters import LIFParameters
from snn_transfer.kernels.surrogates import TABLE

# each surrogate's SpikingJelly class and the models' alpha (the paper's neuron)
SURROGATES = {s.name: (getattr(surrogate, s.spikingjelly), s.model_alpha) for s in TABLE}
SJ_FUSED = ("triangle", "atan", "sigmoid")  # PiecewiseQuadratic, ATan, Sigmoid
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
NEURON = {"tau": 2.0, "v_threshold": 0.5, "v_reset": 0.0, "detach_reset": True}


KINDS = ("ours", "ours_v", "sj", "sj_v", "sj_f32", "sj_f32_v", "loop")


def runner(kind: str, name: str, dtype: torch.dtype, device: torch.device) -> Callable | None:
    """``fn(x, grad) -> None``: one forward + backward of contender ``kind`` (None: n/a)."""
    cls, alpha = SURROGATES[name]
    params = LIFParameters(surrogate=name, alpha=alpha, decay_input=True, **NEURON)
    backend = "cupy" if device.type == "cuda" else "auto"
    with_v = kind.endswith("_v")

    def ours(x: torch.Tensor, grad: torch.Tensor) -> None:
        out = lif_multi_step(x, 0.0, params, store_v_seq=with_v, backend=backend)
        outputs = [out.spike, out.v_seq] if with_v else [out.spike]
        torch.autograd.backward(outputs, [grad] * len(outputs))

    node = neuron.LIFNode(
        surrogate_function=cls(alpha=alpha), step_mode="m", store_v_seq=with_v, **NEURON
    )
    cast = kind.startswith("sj_f32")

    def sj(x: torch.Tensor, grad: torch.Tensor) -> None:
        spikes = node(x.float() if cast else x).to(x.dtype)
        outputs = [spikes, node.v_seq.to(x.dtype)] if with_v else [spikes]
        torch.autograd.backward(outputs, [grad] * len(outputs))
        functional.reset_net(node)

    def loop(x: torch.Tensor, grad: torch.Tensor) -> None:
        out = lif_multi_step(x, 0.0, params, backend="torch")
        out.spike.backward(grad)

    if kind.startswith("ours"):
        return ours
    if kind == "loop":
        return loop
    return None if cast and dtype == torch.float32 else sj


def measure(fn: Callable, x: torch.Tensor, grad: torch.Tensor, budget_s: float) -> dict:
    """Median milliseconds of ``fn(x, grad)`` and its peak memory (MiB above the baseline)."""
    cuda = x.is_cuda
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    fn(x, grad)  # warm-up: compilation, caches
    x.grad = None
    sync()
    start = time.perf_counter()
    fn(x, grad)
    sync()
    once = time.perf_counter() - start
    repeats = max(3, min(20, int(budget_s / max(once, 1e-6))))
    times = []
    for _ in range(repeats):
        x.grad = None
        if cuda:
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
            fn(x, grad)
            end.record()
            end.synchronize()
            times.append(begin.elapsed_time(end))
        else:
            start = time.perf_counter()
            fn(x, grad)
            times.append((time.perf_counter() - start) * 1e3)
    peak = None
    if cuda:
        x.grad = None
        sync()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn(x, grad)
        sync()
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    x.grad = None
    return {"ms": statistics.median(times), "peak_mib": peak, "repeats": repeats}


def sj_implementation(device: torch.device) -> str:
    try:
        info = functional.neuron_implementation("lif", device)
    except Exception as error:  # noqa: BLE001 - report whatever SpikingJelly says
        return f"unknown ({error})"
    return str(info.get("implementation"))


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device(args.device)
    rows = []
    for steps in args.steps:
        for dtype_name, dtype in DTYPES.items():
            for name in SURROGATES:
                torch.manual_seed(steps)
                shape = (steps, args.batch, 64, 48, 48) if not args.quick else (steps, 2, 8, 6, 6)
                x = (torch.randn(shape, device=device) * 0.8 + 0.5).to(dtype).requires_grad_()
                grad = torch.randn(shape, device=device).to(dtype)
                row: dict[str, Any] = {"steps": steps, "dtype": dtype_name, "surrogate": name}
                for kind in KINDS:
                    fn = runner(kind, name, dtype, device)
                    if fn is not None:
                        row[kind] = measure(fn, x, grad, args.budget)
                rows.append(summarise(row))
                print(format_row(row), flush=True)
                del x, grad
    return {"device": describe(device), "batch": args.batch, "quick": args.quick, "rows": rows}


def summarise(row: dict[str, Any]) -> dict[str, Any]:
    """Adds SJ's faster variant and the ratios to ours, like for like (> 1: ours faster)."""
    for suffix in ("", "_v"):
        sj = min(row[k + suffix]["ms"] for k in ("sj", "sj_f32") if k + suffix in row)
        row[f"sj_best{suffix}_ms"] = sj
        row[f"vs_sj{suffix}"] = sj / row[f"ours{suffix}"]["ms"]
    row["vs_loop"] = row["loop"]["ms"] / row["ours"]["ms"]
    row["vs_loop_v"] = row["loop"]["ms"] / row["ours_v"]["ms"]
    row["v_seq_cost"] = row["ours_v"]["ms"] / row["ours"]["ms"]
    return row


def format_row(row: dict[str, Any]) -> str:
    def cell(kind: str) -> str:
        if kind not in row:
            return f"{kind} -"
        mem = row[kind]["peak_mib"]
        return f"{kind} {row[kind]['ms']:.3f}" + ("" if mem is None else f"/{mem:.0f}M")

    cells = " ".join(cell(k) for k in KINDS)
    return (
        f"T={row['steps']:>2} {row['dtype']:<8} {row['surrogate']:<9} {cells} (ms/MiB) | "
        f"sj/ours {row['vs_sj']:.2f}x sj_v/ours_v {row['vs_sj_v']:.2f}x "
        f"loop/ours {row['vs_loop']:.1f}x"
    )


def describe(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {"type": device.type, "torch": torch.__version__}
    import spikingjelly

    info["spikingjelly"] = getattr(spikingjelly, "__version__", "?")
    if device.type == "cuda":
        info["name"] = torch.cuda.get_device_name(device)
        info["sj_lif_implementation"] = sj_implementation(device)
        import cupy

        info["cupy"] = cupy.__version__
    return info


def goal(result: dict[str, Any]) -> list[str]:
    """The goal lines: at T = 10, ours >= SJ's fastest (with and without ``v_seq``) and >= 3x
    the loop (with ``v_seq``, against the loop without it).

    SJ's fastest is the better of ``sj`` and ``sj_f32`` for the same surrogate; for the
    rectangle, which SJ does not fuse, its fastest fused surrogate at the same T and dtype.
    """
    rows = [row for row in result["rows"] if row["steps"] == 10]
    fused_best: dict[tuple[str, str], float] = {}
    for row in rows:
        for suffix in ("", "_v"):
            key = (row["dtype"], suffix)
            if row["surrogate"] in SJ_FUSED:
                best = fused_best.get(key, float("inf"))
                fused_best[key] = min(best, row[f"sj_best{suffix}_ms"])
    lines = []
    for row in rows:
        ratios = []
        for suffix in ("", "_v"):
            peer = row[f"sj_best{suffix}_ms"]
            if row["surrogate"] not in SJ_FUSED:
                peer = fused_best.get((row["dtype"], suffix), peer)
            ratios.append(peer / row[f"ours{suffix}"]["ms"])
        ok = min(ratios) >= 1.0 and row["vs_loop_v"] >= 3.0
        lines.append(
            f"goal T=10 {row['dtype']:<8} {row['surrogate']:<9} ours {row['ours']['ms']:.3f}ms "
            f"ours_v {row['ours_v']['ms']:.3f}ms | vs SJ {ratios[0]:.2f}x, with v {ratios[1]:.2f}x"
            f" | vs loop {row['vs_loop_v']:.1f}x | v_seq cost {row['v_seq_cost']:.2f}x -> "
            f"{'MET' if ok else 'NOT MET'}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 10, 32])
    parser.add_argument("--batch", type=int, default=32, help="B of [T, B, 64, 48, 48]")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--budget", type=float, default=0.3, help="seconds per measurement")
    parser.add_argument("--quick", action="store_true", help="tiny layer (plumbing check)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA GPU: nothing to benchmark (use --device cpu --quick to check the script)")
        return 0
    result = run(args)
    result["goal"] = goal(result)
    print("\n".join(result["goal"]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
