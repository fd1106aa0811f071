"""Operation counts, energy and firing rates of a spiking model, from forward hooks.

Operation counts come from forward hooks (:class:`OpCounter`), not from SpikingJelly's
``op_counter``:
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

from typing import Any

import numpy as np
import torch
from torch import nn

E_AC_PJ = 0.9
E_MAC_PJ = 4.6
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

    Spiking layers are the model's SpikingJelly neurons (``BaseNode``: the fused
    ``FusedLIFNode`` is a ``LIFNode`` too); weight
    layers are ``nn.Conv1d/2d/3d`` and ``nn.Linear`` (SpikingJelly's ``layer.*`` included).
    With ``ops=False`` only the firing rates are counted (no hooks on weight layers).
    """

    def __init__(self, model: nn.Module, *, ops: bool = True) -> None:
        from spikingjelly.activation_based.neuron import BaseNode

        self.model = model
        self.ops = ops
        # stateful layers that are not neurons (SpikingJelly's dropout) are left out
        self.neurons = (BaseNode,)
        self.layers: dict[str, dict[str, float]] = {}
        self.firing: dict[str, list[float]] = {}
        self._hooks: list[Any] = []

    def __enter__(self) -> OpCounter:
        for name, module in self.model.named_modules():
            if isinstance(module, self.neurons):
                hook = self._neuron_hook(name)
            elif not self.ops:
                continue
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
            if self.ops and bool(((out == 0) | (out == 1)).all()):
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
            "method": "forward hooks (snn_transfer.op_counter.OpCounter)",
            "e_ac_pj": e_ac,
            "e_mac_pj": e_mac,
            "time_steps": time_steps,
            "layers": layers,
            "sops": sum(v["sops"] for v in layers.values()),
            "macs": sum(v["macs"] for v in layers.values()),
            "energy_pj": sum(v["energy_pj"] for v in layers.values()),
            "ann_energy_pj": e_mac * sum(v["dense_macs_per_step"] for v in layers.values()),
        }

    def add(self, firing: dict[str, list[float]], layers: dict[str, dict[str, float]]) -> None:
        """Add the counts of another counter of the same model (``firing``, ``layers``), as
        the ranks of a distributed evaluation exchange them."""
        for name, (spikes, n) in firing.items():
            total = self.firing.setdefault(name, [0.0, 0.0])
            total[0] += spikes
            total[1] += n
        for name, stats in layers.items():
            mine = self.layers.setdefault(name, dict.fromkeys(stats, 0.0))
            for key, value in stats.items():
                mine[key] += value

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
