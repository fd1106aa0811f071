"""On paper: the N-Caltech101 recipe's time and memory on one GPU, from counted FLOPs and bytes.

Nothing here is measured on a GPU. One transfer iteration of the recipe (VGGSNN, K = 101,
T = 10, 48x48, batch 120, the reference's math: per-step BatchNorm with running statistics
from both branches, TET on both heads, CKA with STR) runs on PyTorch's ``meta`` device, which
computes shapes only, under three counters:

* FLOPs: ``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matrix products,
  forward and backward; elementwise work is not in it and is bound by bytes instead);
* bytes moved: every aten operator's distinct tensor inputs and outputs, once each (views
  move nothing), split into the convolution / matrix-product operators (compute-bound) and
  all others (bandwidth-bound: BatchNorm, neuron, pooling, losses); an eager operator reads
  its inputs from and writes its outputs to GPU memory, which is what an unfused kernel does;
* saved activations: the distinct storages autograd keeps for the backward
  (``torch.autograd.graph.saved_tensors_hooks``), the bulk of training memory.

Paths: ``previous`` (the modules' forward with SpikingJelly's ``LIFNode``: per-step torch
operators, what the reference runs too), ``compact`` (``snn_transfer.models.compact`` with
the torch neuron loop, which applies on a GPU with ``neuron_backend: spikingjelly``), and
``fused`` (the modules' forward with our fused CuPy LIF, the default on a GPU). The fused
neuron cannot run on ``meta``: its rows are the ``previous`` counts with every LIF layer's
own counts (each layer counted alone at its input's shape) replaced by what the kernel moves,
from the activation sizes: forward reads the input current and writes spikes, ``h`` (float32,
kept for the backward) and, at the alignment layer, ``v``; backward reads the spike gradient,
``h`` (and ``v``'s gradient) and writes the input gradient. ``bf16`` (autocast): counted
with the model and the frames in bfloat16 (what autocast gives the convolutions, BatchNorm and
neuron activations; the compact path keeps its statistics and ``v`` in float32, the fused
kernel its ``h``), parameters and optimizer state counted in float32, and the bf16 dense peak
for the convolutions.

Time per iteration = FLOPs / (dense peak) + bandwidth-bound bytes / (memory bandwidth), the
two kinds of kernel run one after the other. That ideal is then scaled by one calibration
factor: the reference's measured 4.5 h for 300 epochs of 65 iterations on one A100-40G
(0.83 s per iteration) over the same ideal for the ``previous`` path (its computation) on an
A100 in TF32, so every estimate assumes the same share of peak the reference reached (data
loading and per-epoch evaluation included in it). Memory = saved activations + parameters,
their gradients and AdamW's two moments + the largest transient (a layer's output and its
gradient); the reference's 38 GB next to the same count for ``previous`` gives the allocator's
overhead factor, applied to every row alike.

    python scripts/estimate_gpu.py [--json benchmarks/results/gpu_estimate.json]

Peak figures assumed (dense, no sparsity; vendor data sheets): H200 SXM 989 TFLOPS bf16,
495 TFLOPS TF32, 4.8 TB/s HBM3e, 141 GB; A100-40G SXM 312 TFLOPS bf16, 156 TFLOPS TF32,
1.555 TB/s HBM2. ``scripts/gpu_check.sh`` measures iterations on a GPU where one is visible
(``scripts/bench_training.py`` CUDA variants), which is what these estimates should be
checked against.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

# name -> (dense bf16 FLOP/s, dense TF32 FLOP/s, memory bytes/s, memory bytes)
GPUS = {
    "A100-40G": (312e12, 156e12, 1.555e12, 40e9),
    "H200": (989e12, 495e12, 4.8e12, 141e9),
}
# the reference's README: 300 epochs of N-Caltech101 on one A100-40G
REFERENCE = {"gpu": "A100-40G", "hours": 4.5, "memory_bytes": 38e9, "epochs": 300}
ITERATIONS_PER_EPOCH = 65  # 7,839 class-balanced draws per epoch at batch 120
RECIPE = {"model": "vggsnn", "classes": 101, "steps": 10, "batch": 120, "size": 48}
COMPUTE_OPS = {"convolution", "convolution_backward", "mm", "addmm", "bmm", "baddbmm"}
ALLOCATIONS = {"empty", "empty_like", "new_empty", "empty_strided", "new_empty_strided"}


class ByteCounter(TorchDispatchMode):
    """Bytes of every operator's distinct tensor inputs and outputs (views excluded), split
    into compute-bound (``COMPUTE_OPS``) and bandwidth-bound operators."""

    def __init__(self) -> None:
        super().__init__()
        self.compute = 0
        self.memory = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        schema = func._schema
        if schema.returns and all(
            r.alias_info is not None and not r.alias_info.is_write for r in schema.returns
        ):
            return out  # a view: no data moved
        if func.overloadpacket.__name__ in ALLOCATIONS:
            return out  # memory handed out, not written
        seen, total = set(), 0
        for tensor in _tensors((args, kwargs or {}, out)):
            key = id(tensor)
            if key not in seen:
                seen.add(key)
                total += tensor.numel() * tensor.element_size()
        if func.overloadpacket.__name__.lstrip("_") in COMPUTE_OPS:
            self.compute += total
        else:
            self.memory += total
        return out


def _tensors(value: Any):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)


class SavedCounter:
    """Distinct storages autograd saves for the backward, in bytes."""

    def __init__(self) -> None:
        self.storages: dict[int, int] = {}

    def pack(self, tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        self.storages[storage._cdata] = storage.nbytes()
        return tensor

    @property
    def bytes(self) -> int:
        return sum(self.storages.values())


def build(path: str, dtype: torch.dtype):
    """The recipe's training module on ``meta`` (path ``previous`` or ``compact``, both with
    SpikingJelly's neuron) in ``dtype``, and one batch."""
    from snn_transfer.run_config import DataConfig, ModelConfig, TransferConfig
    from snn_transfer.training_module import TrainingModule, build_model

    options = {"bn_mode": "per_step", "compact": path == "compact"}
    options["neuron_backend"] = "spikingjelly"
    config = TransferConfig(
        time_steps=RECIPE["steps"],
        data=DataConfig(batch_size=RECIPE["batch"]),
        model=ModelConfig(name=RECIPE["model"], options=options, bn_running_stats="both"),
    )
    shape = (RECIPE["steps"], RECIPE["batch"], 2, RECIPE["size"], RECIPE["size"])
    with torch.device("meta"):
        module = TrainingModule(build_model(config, RECIPE["classes"]), None).to(dtype)
        frames = (torch.empty(shape, dtype=dtype), torch.empty(shape, dtype=dtype))
        batch = (*frames, torch.zeros(shape[1], dtype=torch.long))
    return module, config, batch


def count_iteration(path: str, dtype: torch.dtype) -> dict[str, Any]:
    """FLOPs, bytes and saved bytes of one iteration's forward, objective (float32, as
    ``snn_transfer.step`` runs it) and backward, the model in ``dtype``."""
    from spikingjelly.activation_based.neuron import LIFNode

    from snn_transfer.losses import transfer_objective

    module, config, (static, event, labels) = build(path, dtype)
    neurons: list[tuple[LIFNode, torch.Size]] = []
    # (a hook turns the compact path off, so the layers' shapes come from the previous path)
    hooks = [
        m.register_forward_pre_hook(lambda m, a: neurons.append((m, a[0].shape)))
        for m in module.modules()
        if isinstance(m, LIFNode) and path == "previous"
    ]
    flops, moved, saved = FlopCounterMode(display=False), ByteCounter(), SavedCounter()
    with flops, moved, torch.autograd.graph.saved_tensors_hooks(saved.pack, lambda t: t):
        out, domain = module(static, event)
        total, _ = transfer_objective(
            config.loss,
            labels,
            out.event_logits.float(),
            out.static_logits.float(),
            out.event_features.float(),
            out.static_features.float(),
            out.str_coefficients.float(),
            domain,
        )
        total.backward()
    for hook in hooks:
        hook.remove()
    parameters = sum(p.numel() * 4 for p in module.parameters())  # float32 master weights
    widest = max((shape.numel() for _, shape in neurons), default=0)
    return {
        "flops": flops.get_total_flops(),
        "compute_bytes": moved.compute,
        "memory_bytes": moved.memory,
        "saved_bytes": saved.bytes,
        "parameter_bytes": parameters,
        "widest_activation": widest,
        "neurons": [(s, bool(m.store_v_seq)) for m, s in neurons],
    }


def count_neuron(shape: torch.Size, store_v_seq: bool, dtype: torch.dtype) -> dict[str, int]:
    """Bytes moved and saved by one SpikingJelly LIF layer alone, forward and backward."""
    from snn_transfer.models.neurons import NeuronConfig, make_lif

    node = make_lif(NeuronConfig(neuron_backend="spikingjelly"), store_v_seq=store_v_seq)
    moved, saved = ByteCounter(), SavedCounter()
    x = torch.empty(shape, device="meta", dtype=dtype, requires_grad=True)
    with moved, torch.autograd.graph.saved_tensors_hooks(saved.pack, lambda t: t):
        spikes = node(x)
        outputs = [spikes] + ([node.v_seq] if store_v_seq else [])
        torch.autograd.backward(outputs, [torch.empty_like(o) for o in outputs])
    return {"memory_bytes": moved.memory + moved.compute, "saved_bytes": saved.bytes}


def fused_neuron(shape: torch.Size, store_v_seq: bool, size: int) -> dict[str, int]:
    """What the fused kernel moves and keeps for one layer, activations of ``size`` bytes."""
    n = shape.numel()
    forward = n * (size + size + 4 + (size if store_v_seq else 0))  # x in; spike, h, v out
    backward = n * (size + 4 + (size if store_v_seq else 0) + size)  # grads and h in; grad out
    return {"memory_bytes": forward + backward, "saved_bytes": n * 4}


def rows(counts: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The estimate rows: path x precision, from the counts (``counts[f"{path}-{amp}"]``)."""
    out = []
    for path in ("previous", "compact", "fused"):
        for amp, dtype, size in (("none", torch.float32, 4), ("bf16", torch.bfloat16, 2)):
            base = counts[f"{'compact' if path == 'compact' else 'previous'}-{amp}"]
            moved, saved = base["memory_bytes"], base["saved_bytes"]
            if path == "fused":  # SpikingJelly's LIF layers out, the fused kernel's in
                neurons = counts[f"previous-{amp}"]["neurons"]
                layers = [count_neuron(shape, v, dtype) for shape, v in neurons]
                fused = [fused_neuron(shape, v, size) for shape, v in neurons]
                for old, new in zip(layers, fused, strict=True):
                    moved += new["memory_bytes"] - old["memory_bytes"]
                    saved += new["saved_bytes"] - old["saved_bytes"]
            out.append(
                {
                    "path": path,
                    "amp": amp,
                    "flops": base["flops"],
                    "compute_bytes": base["compute_bytes"],
                    "memory_bytes": moved,
                    "saved_bytes": saved,
                    "state_bytes": base["parameter_bytes"] * 4,  # weights, grads, 2 moments
                    "transient_bytes": 2 * counts["previous-none"]["widest_activation"] * size,
                }
            )
    return out


def ideal_seconds(row: dict[str, Any], gpu: str) -> float:
    bf16, tf32, bandwidth, _ = GPUS[gpu]
    peak = bf16 if row["amp"] == "bf16" else tf32
    return row["flops"] / peak + row["memory_bytes"] / bandwidth


def memory_bytes(row: dict[str, Any]) -> float:
    return row["saved_bytes"] + row["state_bytes"] + row["transient_bytes"]


def estimate(counts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    table = rows(counts)
    iterations = REFERENCE["epochs"] * ITERATIONS_PER_EPOCH
    reference_row = next(r for r in table if r["path"] == "previous" and r["amp"] == "none")
    measured_s = REFERENCE["hours"] * 3600 / iterations
    time_factor = measured_s / ideal_seconds(reference_row, REFERENCE["gpu"])
    memory_factor = REFERENCE["memory_bytes"] / memory_bytes(reference_row)
    for row in table:
        row["ideal_s"] = ideal_seconds(row, "H200")
        row["estimate_s"] = row["ideal_s"] * time_factor
        row["estimate_hours"] = row["estimate_s"] * iterations / 3600
        row["counted_memory_bytes"] = memory_bytes(row)
        row["estimate_memory_bytes"] = memory_bytes(row) * memory_factor
    return {
        "recipe": {**RECIPE, "math": "reference", "epochs": REFERENCE["epochs"]},
        "iterations": iterations,
        "gpus": {
            k: dict(zip(("bf16", "tf32", "bandwidth", "memory"), v, strict=True))
            for k, v in GPUS.items()
        },  # fmt: skip
        "reference": {
            **REFERENCE,
            "seconds_per_iteration": measured_s,
            "ideal_s_on_its_gpu": ideal_seconds(reference_row, REFERENCE["gpu"]),
            "counted_memory_bytes": memory_bytes(reference_row),
        },
        "time_factor": time_factor,
        "memory_factor": memory_factor,
        "rows": table,
        "estimate": True,
    }


def report(result: dict[str, Any]) -> None:
    ref = result["reference"]
    print(
        f"reference (measured, its README): {ref['hours']} h, {ref['memory_bytes'] / 1e9:.0f} GB "
        f"on one {ref['gpu']}; {ref['seconds_per_iteration']:.3f} s per iteration, ideal "
        f"{ref['ideal_s_on_its_gpu']:.3f} s counted -> time factor {result['time_factor']:.2f}; "
        f"counted memory {ref['counted_memory_bytes'] / 1e9:.1f} GB -> memory factor "
        f"{result['memory_factor']:.2f}"
    )
    for row in result["rows"]:
        print(
            f"H200 estimate {row['path']:8s} {row['amp']:4s}: {row['flops'] / 1e12:.1f} TFLOP, "
            f"{row['memory_bytes'] / 1e9:.1f} GB bandwidth-bound, ideal {row['ideal_s']:.3f} s, "
            f"estimate {row['estimate_s']:.3f} s/iteration = {row['estimate_hours']:.2f} h; "
            f"memory {row['estimate_memory_bytes'] / 1e9:.1f} GB (saved activations "
            f"{row['saved_bytes'] / 1e9:.1f} GB)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="write results")
    parser.add_argument("--quick", action="store_true", help="the same count (it is quick)")
    parser.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    counts = {
        f"{path}-{amp}": count_iteration(path, dtype)
        for path in ("previous", "compact")
        for amp, dtype in (("none", torch.float32), ("bf16", torch.bfloat16))
    }
    result = estimate(counts)
    report(result)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        for count in counts.values():
            count["neurons"] = [(list(s), v) for s, v in count["neurons"]]
        result["counts"] = counts
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
