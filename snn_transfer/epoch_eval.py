"""The trainer's end-of-epoch evaluation: the event branch alone, logits averaged over T.

With several processes each rank evaluates the samples ``rank, rank + W, ...`` of the split
and the ranks exchange their predictions and spike counts, so every rank returns the result
one process would compute for the whole split (same predictions, same accuracy; firing rates
are spikes per neuron and step over everything seen, as ``snn-transfer eval`` counts them).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from snn_transfer import distributed
from snn_transfer.sample_errors import NamedSamples


def to_steps(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``[B, T, P, H, W]`` from the DataLoader -> the model's ``[T, B, P, H, W]``."""
    return batch.to(device, non_blocking=True).transpose(0, 1).contiguous()


@torch.no_grad()
def evaluate_split(
    model: nn.Module,
    split: Any,
    *,
    batch_size: int,
    workers: int,
    device: torch.device,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> dict[str, Any]:
    """Accuracy, ``n``, per-layer ``firing`` rates and ``predictions`` ``[n]`` of ``split``.

    ``model`` is a ``TransferModel`` (``classify`` gives event logits ``[T, B, K]``); it is
    put in evaluation mode and back in training mode.
    """
    if len(split) == 0:
        return {"acc": float("nan"), "n": 0}
    from spikingjelly.activation_based.neuron import BaseNode

    rank, world = distributed.rank(), distributed.world_size()
    share = split if world == 1 else torch.utils.data.Subset(split, range(rank, len(split), world))
    spikes: dict[str, list[float]] = {}

    def count(name: str):
        def hook(module: nn.Module, args: tuple, out: torch.Tensor) -> None:
            total = spikes.setdefault(name, [0.0, 0.0])
            total[0] += float(out.detach().double().sum())
            total[1] += out.numel()

        return hook

    hooks = [
        module.register_forward_hook(count(name))
        for name, module in model.named_modules()
        if isinstance(module, BaseNode)
    ]
    loader = torch.utils.data.DataLoader(
        NamedSamples(share), batch_size=batch_size, num_workers=workers
    )
    predictions: list[torch.Tensor] = []
    labels: list[torch.Tensor] = []
    model.eval()
    try:
        for frames, target in loader:
            with autocast():
                logits = model.classify(to_steps(frames, device)).float().mean(0)
            predictions.append(logits.argmax(-1).cpu())
            labels.append(target)
    finally:
        for hook in hooks:
            hook.remove()
        model.train()
    mine = torch.cat(predictions).numpy() if predictions else np.zeros(0, np.int64)
    truth = torch.cat(labels).numpy() if labels else np.zeros(0, np.int64)
    everyone = distributed.gather_objects((mine, int((mine == truth).sum()), spikes))
    merged = np.zeros(len(split), np.int64)
    firing: dict[str, list[float]] = {}
    correct = 0
    for r, (part, right, counts) in enumerate(everyone):
        merged[r::world] = part
        correct += right
        for name, (s, n) in counts.items():
            total = firing.setdefault(name, [0.0, 0.0])
            total[0] += s
            total[1] += n
    return {
        "acc": correct / len(split),
        "n": len(split),
        "firing": {name: s / n if n else 0.0 for name, (s, n) in firing.items()},
        "predictions": merged,
    }
