"""What the trainer records at the end of an epoch: the metrics row, the best epoch so far,
the console line, the TensorBoard scalars and the run's result."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

NOT_LOSSES = ("train_acc", "replaced")
# per-step terms (name_t), logged unweighted and without the loss_ prefix
PER_STEP = ("ce_event_", "ce_static_", "distance_t_")


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
    for key, value in sums.items():
        plain = key in NOT_LOSSES or key.startswith(PER_STEP)
        name = key.replace("distance_t_", "distance_") if plain else f"loss_{key}"
        row[name] = value / max(steps, 1)
    # test is not evaluated every epoch with test_every_epoch = false: NaN there
    row.update(val_acc=val["acc"], test_acc=test.get("acc", math.nan), seconds=round(seconds, 2))
    if eta is not None:
        row.update({f"sigma_{t}": float(s) for t, s in enumerate(torch.sigmoid(eta.detach()))})
    firing = val.get("firing") or test.get("firing") or {}
    row.update({f"firing_{k}": v for k, v in firing.items()})
    return row


def str_trading_warning(
    history: list[dict[str, Any]], epochs: int = 3, low_accuracy: float = 0.8
) -> str | None:
    """A warning when STR is trading the event loss away: the mean sigma(eta_t) rose in each
    of the last ``epochs`` epochs while the event branch's training accuracy stayed below
    ``low_accuracy``; None otherwise (and once it was given, so the log says it once)."""
    rows = [r for r in history if any(k.startswith("sigma_") for k in r)]
    if len(rows) < epochs + 1 or any(r.get("str_warning") for r in history[:-1]):
        return None

    def sigma(row: dict[str, Any]) -> float:
        values = [v for k, v in row.items() if k.startswith("sigma_")]
        return sum(values) / len(values)

    recent = rows[-(epochs + 1) :]
    rising = all(sigma(b) > sigma(a) for a, b in zip(recent, recent[1:], strict=False))
    accuracy = recent[-1].get("train_acc", 1.0)
    if not rising or accuracy >= low_accuracy:
        return None
    history[-1]["str_warning"] = 1
    return (
        f"warning: STR is trading the event loss away: the mean sigma(eta_t) rose from "
        f"{sigma(recent[0]):.3f} to {sigma(recent[-1]):.3f} over the last {epochs} epochs while "
        f"the event branch's training accuracy is {accuracy:.3f}; the event loss keeps only "
        f"1 - sigma of its weight. Set loss.str_floor=0.5 (the event loss keeps at least half) "
        "or loss.str_mode=none."
    )


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


def run_result(
    config: Any, best: dict[str, Any], history: list[dict[str, Any]], epochs: int, iterations: int
) -> dict[str, Any]:
    """The run's result (``result.json``): the epoch selected (on validation, or on test for
    paper parity), its accuracies, the last epoch's test accuracy and how far the run got."""
    selection = "validation" if config.selection == "val" else "test (paper parity)"
    last = history[-1] if history else {}
    return {
        "mode": config.mode,
        "selected_on": selection,
        "best_epoch": best["epoch"],
        "val_acc": best.get("val_acc"),
        "test_acc": best.get("test_acc"),
        "last_epoch": last.get("epoch"),
        "last_test_acc": last.get("test_acc"),
        "epochs_done": epochs,
        "iterations": iterations,
    }
