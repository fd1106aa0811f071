"""Evaluating a run: accuracy, per-class accuracy, confusion matrix, firing rates and energy.

The event branch alone is evaluated (logits averaged over T), as during training. Operation
counts come from forward hooks (:class:`OpCounter`), not from SpikingJelly's ``op_counter``:
that module decides between an accumulate (AC) and a multiply-accumulate (MAC) per tensor, by
whether the tensor holds only 0 and 1, so a convolution or classifier fed by average-pooled
spikes (every such layer in VGGSNN, SCNN and the tiny model) counts as MACs, and binary event
frames make the first layer count as ACs. Here a weight layer counts synaptic operations (SOPs,
each costing one AC) when its input derives from spikes, through pooling or flattening; any
other weight layer (the first one, reading event frames, or the ResNet head, reading a
BatchNorm output) counts dense MACs.

SOPs of a layer are the fan-out-weighted sum of its inputs, ``sum_i x_i * fanout_i`` (a spike
contributes to ``fanout_i`` weights; an average-pooled input contributes its spike rate), which
is the layer's dense MACs times its input rate up to the border of padded convolutions.
Energy uses the 45 nm figures of Horowitz (ISSCC 2014): 0.9 pJ per AC, 4.6 pJ per MAC.
BatchNorm (foldable into the convolutions at inference), bias additions, neuron updates and
memory traffic are not counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from snn_transfer.errors import ConfigError

E_AC_PJ = 0.9
E_MAC_PJ = 4.6
SPLITS = ("train", "val", "test")
_SPIKE_FED = "_snn_transfer_spike_fed"
# layers that keep "derives from spikes" from their input to their output
_PASS_THROUGH = (
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.Flatten,
    nn.Unflatten,
    nn.Dropout,
    nn.Identity,
)
_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _mark(tensor: torch.Tensor) -> None:
    setattr(tensor, _SPIKE_FED, True)
    if tensor._base is not None:  # later views of the same data see the mark through _base
        setattr(tensor._base, _SPIKE_FED, True)


def _marked(tensor: torch.Tensor) -> bool:
    return getattr(tensor, _SPIKE_FED, False) or (
        tensor._base is not None and getattr(tensor._base, _SPIKE_FED, False)
    )


class OpCounter:
    """Forward hooks that count ops and firing rates of every layer of ``model``.

    Use as a context manager around any number of forwards, then call :meth:`summary` with
    the number of samples those forwards processed::

        with torch.no_grad(), OpCounter(model) as counter:
            model.classify(x)  # x [T, B, C, H, W]
        counter.summary(samples=B, time_steps=T)

    Spiking layers are the model's neuron layers (``snn_transfer.models.neurons``); weight
    layers are ``nn.Conv1d/2d/3d`` and ``nn.Linear`` (SpikingJelly's ``layer.*`` included).
    """

    def __init__(self, model: nn.Module) -> None:
        from spikingjelly.activation_based.base import MemoryModule
        from spikingjelly.activation_based.neuron import BaseNode

        from snn_transfer.models.neurons import neuron_types

        self.model = model
        # stateful layers that are not neurons (SpikingJelly's dropout) are left out
        self.neurons = tuple({BaseNode, *neuron_types()} - {MemoryModule})
        self.layers: dict[str, dict[str, float]] = {}
        self.firing: dict[str, list[float]] = {}
        self._hooks: list[Any] = []

    def __enter__(self) -> OpCounter:
        for name, module in self.model.named_modules():
            if isinstance(module, self.neurons):
                hook = self._neuron_hook(name)
            elif isinstance(module, _PASS_THROUGH):
                hook = self._pass_hook
            elif isinstance(module, (*_CONVS, nn.Linear)):
                hook = self._weight_hook(name)
            else:
                continue
            self._hooks.append(module.register_forward_hook(hook))
        return self

    def __exit__(self, *exc: object) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks.clear()

    def _neuron_hook(self, name: str):
        def hook(module: nn.Module, args: tuple, out: Any) -> None:
            if not isinstance(out, torch.Tensor):
                return
            total = self.firing.setdefault(name, [0.0, 0.0])
            total[0] += float(out.detach().double().sum())
            total[1] += out.numel()
            if bool(((out == 0) | (out == 1)).all()):
                _mark(out)

        return hook

    @staticmethod
    def _pass_hook(module: nn.Module, args: tuple, out: Any) -> None:
        spikes_in = args and isinstance(args[0], torch.Tensor) and _marked(args[0])
        if spikes_in and isinstance(out, torch.Tensor):
            _mark(out)

    def _weight_hook(self, name: str):
        def hook(module: nn.Module, args: tuple, out: torch.Tensor) -> None:
            x = args[0].detach()
            stats = self.layers.setdefault(
                name, {"dense": 0.0, "sops": 0.0, "macs": 0.0, "in_sum": 0.0, "in_numel": 0.0}
            )
            if isinstance(module, nn.Linear):
                dense = out.numel() * module.in_features
            else:
                kernel = int(np.prod(module.kernel_size))
                dense = out.numel() * (module.in_channels // module.groups) * kernel
            in_sum = float(x.sum(dtype=torch.float64))
            stats["dense"] += dense
            stats["in_sum"] += in_sum
            stats["in_numel"] += x.numel()
            if not _marked(args[0]):
                stats["macs"] += dense
            elif isinstance(module, nn.Linear):
                stats["sops"] += in_sum * module.out_features
            else:
                stats["sops"] += _conv_fanout(module, x)

        return hook

    def summary(
        self, samples: int, time_steps: int, *, e_ac: float = E_AC_PJ, e_mac: float = E_MAC_PJ
    ) -> dict[str, Any]:
        """Per-sample counts (all T steps together) of the forwards seen so far.

        Returns ``layers`` (per weight layer: ``kind`` 'ac' or 'mac', ``dense_macs_per_step``,
        ``input_rate`` (mean input value: the spike rate for spike inputs), ``sops``,
        ``macs``, ``energy_pj``), the totals ``sops``, ``macs``, ``energy_pj``, and
        ``ann_energy_pj``: the dense MACs of one step at ``e_mac`` (an ANN of the same layers).
        """
        if samples < 1 or time_steps < 1:
            raise ValueError("samples and time_steps must be >= 1")
        layers = {}
        for name, s in self.layers.items():
            sops, macs = s["sops"] / samples, s["macs"] / samples
            layers[name] = {
                "kind": "mac" if macs else "ac",
                "dense_macs_per_step": s["dense"] / samples / time_steps,
                "input_rate": s["in_sum"] / s["in_numel"] if s["in_numel"] else 0.0,
                "sops": sops,
                "macs": macs,
                "energy_pj": sops * e_ac + macs * e_mac,
            }
        return {
            "method": "forward hooks (snn_transfer.evaluate.OpCounter)",
            "e_ac_pj": e_ac,
            "e_mac_pj": e_mac,
            "time_steps": time_steps,
            "layers": layers,
            "sops": sum(v["sops"] for v in layers.values()),
            "macs": sum(v["macs"] for v in layers.values()),
            "energy_pj": sum(v["energy_pj"] for v in layers.values()),
            "ann_energy_pj": e_mac * sum(v["dense_macs_per_step"] for v in layers.values()),
        }

    def firing_rates(self) -> dict[str, float]:
        """Mean spike rate of each neuron layer over everything it saw (spikes per element)."""
        return {name: s / n if n else 0.0 for name, (s, n) in self.firing.items()}


def _conv_fanout(conv: nn.Module, x: torch.Tensor) -> float:
    """``sum_i x_i * fanout_i`` of a convolution: a ones kernel counts the positions each
    input reaches, times the output channels of its group. ``_conv_forward`` applies the
    layer's own padding mode; the counts (spike counts, multiples of 1/pool area) are exact
    in float32."""
    dims = len(conv.kernel_size) + 2
    x = x.flatten(0, x.dim() - dims) if x.dim() > dims else x
    ones = torch.ones(
        (conv.groups, conv.in_channels // conv.groups, *conv.kernel_size),
        dtype=torch.float32,
        device=x.device,
    )
    reach = conv._conv_forward(x.float(), ones, None)
    return float(reach.sum(dtype=torch.float64)) * (conv.out_channels // conv.groups)


def run_dataset(config: Any) -> Any:
    """The ``PairedData`` a run's ``TransferConfig`` was trained on, rebuilt from its config."""
    from snn_transfer.events.datasets import load_dataset

    return load_dataset(
        config.data.dataset,
        time_steps=config.time_steps,
        seed=config.seed,
        **config.data.options,
    )


def evaluate_run(
    run_dir_or_checkpoint: str | Path,
    split: str = "test",
    *,
    data: Any = None,
    batch_size: int | None = None,
    checkpoint: str = "best",
    device: str = "auto",
) -> dict[str, Any]:
    """Evaluate the event branch of a run on one split of its dataset.

    The dataset is rebuilt from the run's config unless ``data`` (a ``PairedData``) is given;
    ``device`` ``auto`` picks CUDA when available.
    Returns ``accuracy``, ``n``, ``classes``, ``per_class`` (class -> accuracy, None without
    samples), ``class_counts``, ``confusion`` (``[K][K]`` counts, rows true, columns
    predicted), ``labels`` and ``predictions`` (``[n]``), ``firing`` (layer -> mean spike
    rate) and ``ops`` (see :meth:`OpCounter.summary`: SOPs, MACs and energy per sample).
    """
    from snn_transfer.rundir import load_run
    from snn_transfer.settings import TransferConfig

    if split not in SPLITS:
        raise ConfigError(f"split={split!r} is unknown; choose one of {', '.join(SPLITS)}")
    run = load_run(run_dir_or_checkpoint, checkpoint=checkpoint)
    config = TransferConfig.from_dict(run.state["config"])
    data = run_dataset(config) if data is None else data
    if list(data.classes) != run.classes:
        raise ConfigError(
            f"the dataset's classes ({len(data.classes)}) differ from the run's "
            f"({len(run.classes)}, stored in {run.path}); pass the dataset the run was trained on"
        )
    if data.frame_shape[0] != config.time_steps:
        raise ConfigError(
            f"dataset frames have T = {data.frame_shape[0]}, the run was trained with "
            f"time_steps = {config.time_steps}; load the dataset with that many steps"
        )
    frames = getattr(data, split)
    if len(frames) == 0:
        raise ConfigError(f"dataset {data.name!r} has an empty {split} split; choose another")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model = run.model.to(device).eval()
    loader = torch.utils.data.DataLoader(
        frames,
        batch_size=batch_size or config.data.eval_batch_size,
        num_workers=config.data.workers,
    )
    labels, predictions = [], []
    with torch.no_grad(), OpCounter(model) as counter:
        for x, y in loader:
            logits = model.classify(x.transpose(0, 1).contiguous().to(device)).float().mean(0)
            predictions.append(logits.argmax(-1).cpu().numpy())
            labels.append(y.numpy())
    truth, pred = np.concatenate(labels), np.concatenate(predictions)
    k = len(run.classes)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (truth, pred), 1)
    counts = confusion.sum(axis=1)
    per_class = {
        name: float(confusion[i, i] / counts[i]) if counts[i] else None
        for i, name in enumerate(run.classes)
    }
    return {
        "run": str(run.path),
        "split": split,
        "dataset": data.name,
        "epoch": run.state.get("epoch"),
        "selected_on": run.result.get("selected_on"),
        "n": int(len(truth)),
        "accuracy": float((truth == pred).mean()),
        "classes": list(run.classes),
        "per_class": per_class,
        "class_counts": {name: int(c) for name, c in zip(run.classes, counts, strict=True)},
        "confusion": confusion.tolist(),
        "labels": truth.tolist(),
        "predictions": pred.tolist(),
        "firing": counter.firing_rates(),
        "ops": counter.summary(len(truth), config.time_steps),
    }


def top_confusions(result: dict[str, Any], limit: int = 5) -> list[tuple[str, str, int]]:
    """The ``limit`` largest off-diagonal cells: ``(true class, predicted class, count)``."""
    confusion = np.asarray(result["confusion"])
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    rows, cols = np.nonzero(off)
    # largest first; ties in class order
    order = np.lexsort((cols, rows, -off[rows, cols]))[:limit]
    classes = result["classes"]
    return [(classes[rows[i]], classes[cols[i]], int(off[rows[i], cols[i]])) for i in order]


def write_evaluation(result: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write ``eval-<split>.json`` and ``confusion-<split>.png`` into ``out_dir``."""
    import json

    from matplotlib.figure import Figure

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    split = result["split"]
    json_path = out / f"eval-{split}.json"
    json_path.write_text(json.dumps(result, indent=2))

    confusion = np.asarray(result["confusion"])
    k = len(confusion)
    size = min(4 + 0.3 * k, 16)
    fig = Figure(figsize=(size + 1, size))
    ax = fig.add_subplot()
    image = ax.imshow(confusion, cmap="Blues", interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="samples")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(
        f"{result['dataset']} {split}: accuracy {result['accuracy']:.2%} (n={result['n']})"
    )
    if k <= 30:
        ax.set_xticks(range(k), result["classes"], rotation=90, fontsize=8)
        ax.set_yticks(range(k), result["classes"], fontsize=8)
    if k <= 15:
        limit = confusion.max() / 2
        for (i, j), value in np.ndenumerate(confusion):
            if value:
                color = "white" if value > limit else "black"
                ax.text(j, i, str(value), ha="center", va="center", color=color, fontsize=8)
    fig.tight_layout()
    png_path = out / f"confusion-{split}.png"
    fig.savefig(png_path, dpi=120)
    return [json_path, png_path]


def format_evaluation(result: dict[str, Any]) -> str:
    """A human summary: accuracy, weakest classes, top confusions, firing rates, ops, energy."""
    lines = [
        f"{result['dataset']} {result['split']} split, {result['n']} samples "
        f"({result['run']}, epoch {result['epoch']})",
        f"accuracy {result['accuracy']:.2%}",
    ]
    scored = [(acc, name) for name, acc in result["per_class"].items() if acc is not None]
    if scored:
        weakest = ", ".join(f"{name} {acc:.0%}" for acc, name in sorted(scored)[:5])
        lines.append(f"weakest classes: {weakest}")
    confusions = top_confusions(result)
    if confusions:
        lines.append("top confusions (true -> predicted):")
        lines += [f"  {t} -> {p}: {c}" for t, p, c in confusions]
    if result["firing"]:
        width = max(map(len, result["firing"]))
        lines.append("firing rates (spikes per neuron and step):")
        lines += [f"  {name:<{width}}  {rate:.4f}" for name, rate in result["firing"].items()]
    ops = result["ops"]
    lines.append(f"operations per sample over T = {ops['time_steps']} steps:")
    width = max(map(len, ops["layers"]), default=0)
    for name, layer in ops["layers"].items():
        count = layer["macs"] if layer["kind"] == "mac" else layer["sops"]
        lines.append(
            f"  {name:<{width}}  {count:>14,.0f} {'MACs' if layer['kind'] == 'mac' else 'SOPs'}"
            f"  input rate {layer['input_rate']:.4f}  {layer['energy_pj'] / 1e6:.4f} uJ"
        )
    lines.append(
        f"total: {ops['sops']:,.0f} SOPs and {ops['macs']:,.0f} MACs, energy "
        f"{ops['energy_pj'] / 1e6:.4f} uJ per sample ({ops['e_ac_pj']} pJ/AC, "
        f"{ops['e_mac_pj']} pJ/MAC; an ANN of the same layers: "
        f"{ops['ann_energy_pj'] / 1e6:.4f} uJ)"
    )
    return "\n".join(lines)


def format_predictions(paths: Sequence[str | Path], results: Iterable[dict[str, Any]]) -> str:
    """One aligned line per input: the file, the predicted class and its confidence."""
    results = list(results)
    if len(results) != len(paths):
        raise ValueError(f"{len(paths)} paths but {len(results)} predictions")
    names = [str(p) for p in paths]
    width = max(map(len, names), default=0)
    cls = max((len(r["class"]) for r in results), default=0)
    return "\n".join(
        f"{name:<{width}}  {r['class']:<{cls}}  {r['confidence']:.1%}"
        for name, r in zip(names, results, strict=True)
    )
