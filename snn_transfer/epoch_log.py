"""What the trainer records at the end of an epoch: the metrics row, the best epoch so far,
the console line and the TensorBoard scalars."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

NOT_LOSSES = ("train_acc", "replaced")


def epoch_row(
    epoch: int,
    phase: str,
    lr: float,
    slide_p: float,
    sums: dict[str, float],
    val: dict[str, Any],
    test: dict[str, Any],
    seconds: float,
    eta: torch.Tensor | None,
) -> dict[str, Any]:
    """One row of ``metrics.csv``: ``sums`` (per-step values summed, with ``steps``) become
    means; ``epoch`` is 0-based here and 1-based in the row; ``eta`` the raw STR
    coefficients ``[T]`` (None without STR)."""
    sums = dict(sums)
    steps = sums.pop("steps", 0)
    row: dict[str, Any] = {"epoch": epoch + 1, "phase": phase, "lr": lr, "slide_p": slide_p}
    row.update({k if k in NOT_LOSSES else f"loss_{k}": v / max(steps, 1) for k, v in sums.items()})
    row.update(val_acc=val["acc"], test_acc=test["acc"], seconds=round(seconds, 2))
    if eta is not None:
        row.update({f"sigma_{t}": float(s) for t, s in enumerate(torch.sigmoid(eta.detach()))})
    firing = val.get("firing") or test.get("firing") or {}
    row.update({f"firing_{k}": v for k, v in firing.items()})
    return row


def update_best(best: dict[str, Any], row: dict[str, Any], selection: str) -> bool:
    """Record ``row`` in ``best`` (in place) if its selection score improves; say whether."""
    score = row["val_acc"] if selection == "val" else row["test_acc"]
    if math.isnan(score) or score <= best["score"]:
        return False
    best.clear()
    best.update(epoch=row["epoch"], score=score, val_acc=row["val_acc"], test_acc=row["test_acc"])
    return True


def format_row(row: dict[str, Any], total_epochs: int) -> str:
    """The console line of one epoch."""
    losses = " ".join(f"{k[5:]}={row[k]:.3f}" for k in row if k.startswith("loss_"))
    return (
        f"epoch {row['epoch']:>3}/{total_epochs} {row['phase']:<8} {losses} "
        f"train={row.get('train_acc', 0):.3f} val={row['val_acc']:.3f} "
        f"test={row['test_acc']:.3f} lr={row['lr']:.2e} P={row['slide_p']:.3f} "
        f"({row['seconds']:.1f}s)"
    )


def open_tensorboard(out: Path | None):
    """A TensorBoard writer under ``out/tensorboard``, or None (no run directory, or
    TensorBoard not installed: it is optional)."""
    if out is None:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out / "tensorboard"))


def write_scalars(writer, row: dict[str, Any]) -> None:
    """The row's numbers as TensorBoard scalars at step ``epoch``."""
    if writer is None:
        return
    for key, value in row.items():
        if isinstance(value, int | float) and key != "epoch":
            writer.add_scalar(key, value, row["epoch"])
