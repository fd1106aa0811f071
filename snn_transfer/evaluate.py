"""Evaluating the event branch: one loop for the per-epoch metrics and ``snn-transfer eval``.

The event branch alone is evaluated, logits averaged over T, as during training.
:func:`evaluate_split` is the loop: accuracy, predictions and per-layer firing rates of one
split, counted on every neuron type the models use (SpikingJelly's ``LIFNode`` and the fused
CuPy neuron alike), and with ``ops=True`` the operation counts and energy of
``op_counter.OpCounter``. With several processes each rank evaluates the samples
``rank, rank + W, ...`` and the ranks exchange their predictions and counts, so every rank
returns what one process would compute for the whole split. :func:`evaluate_run` evaluates
a finished run on a split of its dataset (per-class accuracy, confusion matrix);
``eval_report`` formats the result.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from snn_transfer import distributed
from snn_transfer.errors import ConfigError
from snn_transfer.op_counter import OpCounter
from snn_transfer.sample_errors import NamedSamples

SPLITS = ("train", "val", "test")


def to_steps(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``[B, T, P, H, W]`` from the DataLoader -> the model's ``[T, B, P, H, W]``."""
    return batch.to(device, non_blocking=True).transpose(0, 1).contiguous()


@torch.no_grad()
def evaluate_split(
    model: nn.Module,
    split: Any,
    *,
    batch_size: int,
    workers: int = 0,
    device: torch.device | str = "cpu",
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    ops: bool = False,
) -> dict[str, Any]:
    """Evaluate ``split`` (``ds[i] -> (frames [T, P, H, W], label)``) with ``model``.

    ``model`` is a ``TransferModel`` (``classify`` gives event logits ``[T, B, K]``); it is
    put in evaluation mode and back in the mode it was in. Returns ``acc``, ``n``,
    ``firing`` (layer -> spikes per neuron and step over the split), ``predictions`` and
    ``labels`` ``[n]``, and with ``ops`` also ``ops`` (:meth:`OpCounter.summary` per
    sample). With several processes this is collective: call it on every rank.
    """
    if len(split) == 0:
        return {"acc": float("nan"), "n": 0}
    rank, world = distributed.rank(), distributed.world_size()
    share = split if world == 1 else torch.utils.data.Subset(split, range(rank, len(split), world))
    loader = torch.utils.data.DataLoader(
        NamedSamples(share), batch_size=batch_size, num_workers=workers
    )
    counter = OpCounter(model, ops=ops)
    predictions: list[torch.Tensor] = []
    labels: list[torch.Tensor] = []
    steps = 0
    was_training = model.training
    model.eval()
    try:
        with counter:
            for frames, target in loader:
                steps = frames.shape[1]
                with autocast():
                    logits = model.classify(to_steps(frames, device)).float().mean(0)
                predictions.append(logits.argmax(-1).cpu())
                labels.append(target)
    finally:
        model.train(was_training)
    mine = torch.cat(predictions).numpy() if predictions else np.zeros(0, np.int64)
    truth = torch.cat(labels).numpy() if labels else np.zeros(0, np.int64)
    everyone = distributed.gather_objects((mine, truth, counter.firing, counter.layers, steps))
    merged = OpCounter(model, ops=ops)
    merged_predictions = np.zeros(len(split), np.int64)
    merged_labels = np.zeros(len(split), np.int64)
    for r, (part, part_labels, firing, layers, part_steps) in enumerate(everyone):
        merged_predictions[r::world] = part
        merged_labels[r::world] = part_labels
        merged.add(firing, layers)
        steps = steps or part_steps
    result = {
        "acc": float((merged_predictions == merged_labels).mean()),
        "n": len(split),
        "firing": merged.firing_rates(),
        "predictions": merged_predictions,
        "labels": merged_labels,
    }
    if ops:
        result["ops"] = merged.summary(len(split), steps)
    return result


def evaluate_run(
    run_dir_or_checkpoint: str | Path,
    split: str = "test",
    *,
    data: Any = None,
    batch_size: int | None = None,
    checkpoint: str = "best",
    device: str = "auto",
    model: nn.Module | None = None,
) -> dict[str, Any]:
    """Evaluate the event branch of a run on one split of its dataset.

    The dataset is rebuilt from the run's config unless ``data`` (a ``PairedData``) is given;
    ``device`` ``auto`` picks CUDA when available; ``model`` is passed to ``load_run`` (the
    network of a run trained on a model instance).
    Returns ``accuracy``, ``n``, ``classes``, ``per_class`` (class -> accuracy, None without
    samples), ``class_counts``, ``confusion`` (``[K][K]`` counts, rows true, columns
    predicted), ``labels`` and ``predictions`` (``[n]``), ``firing`` (layer -> mean spike
    rate) and ``ops`` (see :meth:`OpCounter.summary`: SOPs, MACs and energy per sample).
    """
    from snn_transfer.run_config import TransferConfig, build_dataset
    from snn_transfer.rundir import load_run

    if split not in SPLITS:
        raise ConfigError(f"split={split!r} is unknown; choose one of {', '.join(SPLITS)}")
    run = load_run(run_dir_or_checkpoint, checkpoint=checkpoint, model=model)
    config = TransferConfig.from_dict(run.state["config"])
    data = build_dataset(config) if data is None else data
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
    evaluated = evaluate_split(
        model,
        frames,
        batch_size=batch_size or config.data.eval_batch_size,
        workers=config.data.workers,
        device=torch.device(device),
        ops=True,
    )
    truth, pred = evaluated["labels"], evaluated["predictions"]
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
        "firing": evaluated["firing"],
        "ops": evaluated["ops"],
    }
