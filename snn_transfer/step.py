"""One training iteration, shared by the trainer and the throughput benchmark.

:func:`training_step` is ONE forward of the training module through both branches (the
static batch, already slid towards the events, and the event batch), the transfer
objective (``losses.transfer_objective``), backward and an optimizer step. Everything
around it (batches, sliding, logging, divergence checks) is the caller's; ``inspect`` runs
between the objective and backward, so a caller that raises there stops before the
weights change.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from snn_transfer.errors import SnnTransferError
from snn_transfer.losses import LossConfig, transfer_objective


class TrainingDiverged(SnnTransferError):
    """A loss term became NaN or infinite."""


def autocast(amp: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The mixed-precision context of ``amp`` (``none``, ``bf16``, ``fp16``): on CUDA both,
    on a CPU ``bf16`` only (``fp16`` runs in float32 there, as ``none``)."""
    if amp == "none" or device.type not in ("cuda", "cpu"):
        return contextlib.nullcontext()
    if device.type == "cpu":
        if amp != "bf16":
            return contextlib.nullcontext()
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return torch.autocast("cuda", dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def _full_precision(device: torch.device) -> contextlib.AbstractContextManager:
    """Autocast off (it is only switched off where it could be on)."""
    if device.type in ("cuda", "cpu"):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()


def _as_float(tensor: torch.Tensor | None) -> torch.Tensor | None:
    return None if tensor is None else tensor.float()


def training_step(
    forward: Callable[[torch.Tensor | None, torch.Tensor], tuple[Any, Any]],
    optimizer: torch.optim.Optimizer,
    loss: LossConfig,
    static: torch.Tensor | None,
    event: torch.Tensor,
    labels: torch.Tensor,
    *,
    scaler: torch.amp.GradScaler | None = None,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    gather: Callable[[torch.Tensor | None], torch.Tensor | None] | None = None,
    inspect: Callable[[torch.Tensor, dict[str, torch.Tensor], Any], None] | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor], Any]:
    """One iteration: forward, objective, backward, optimizer step.

    ``forward(static, event) -> (TransferOutput, domain distance or None)`` is the training
    module (or its DDP / compiled wrapper); ``static`` and ``event`` are ``[T, B, P, H, W]``
    (``static`` None: the baseline, event branch only), ``labels`` ``[B]``. ``loss``: the
    objective's constants. ``scaler``: the fp16 gradient scaler (None: plain backward).
    ``autocast``: the mixed-precision context of the forward; the objective runs in float32
    outside it (its Gram matrices over features of thousands of values lose too much in
    bf16 or fp16).
    ``gather``: applied to both branches' features before the alignment term (the global
    batch under torchrun; None: the features as they are). Returns the loss, its terms (detached) and the model's output.
    """

    def features(tensor: torch.Tensor | None) -> torch.Tensor | None:
        tensor = _as_float(tensor)
        return tensor if tensor is None or gather is None else gather(tensor)

    with autocast():
        out, domain = forward(static, event)
    with _full_precision(out.event_logits.device):
        total, terms = transfer_objective(
            loss,
            labels,
            out.event_logits.float(),
            _as_float(out.static_logits),
            features(out.event_features),
            features(out.static_features),
            out.str_coefficients,
            domain,
        )
    if inspect is not None:
        inspect(total, terms, out)
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        total.backward()
        optimizer.step()
    else:
        scaler.scale(total).backward()
        scaler.step(optimizer)
        scaler.update()
    return total, terms, out


def iteration_values(
    loss: torch.Tensor,
    terms: dict[str, torch.Tensor],
    out: Any,
    labels: torch.Tensor,
    mask: torch.Tensor | None,
) -> dict[str, torch.Tensor]:
    """What an iteration logs, as float scalars: the loss terms (per-step terms ``[T]`` as
    ``name_0 .. name_{T-1}``), ``total``, ``train_acc`` (event branch, logits averaged over
    T) and, with sliding, ``replaced`` (the share of static frames replaced by events)."""
    correct = (out.event_logits.detach().mean(0).argmax(-1) == labels).float().mean()
    flat = {k: v for k, v in terms.items() if v.dim() == 0}
    for name, value in terms.items():
        if value.dim() == 1:
            flat.update({f"{name}_{t}": v for t, v in enumerate(value)})
    values = {**flat, "total": loss.detach(), "train_acc": correct}
    if mask is not None:
        values["replaced"] = mask.float().mean()
    return {k: v.float() for k, v in values.items()}


def check_finite(
    values: dict[str, float],
    terms: dict[str, torch.Tensor],
    iteration: int,
    epoch: int,
    out: Path | None,
) -> None:
    """Raise :class:`TrainingDiverged` naming the first non-finite scalar loss term (or the
    total) and the last good checkpoint of the run directory ``out``."""
    for name in ("total", *(k for k in terms if terms[k].dim() == 0)):
        if not math.isfinite(values[name]):
            last = sorted((out / "checkpoints").glob("*.pt")) if out is not None else []
            raise TrainingDiverged(
                f"loss term {name!r} is {values[name]} at iteration {iteration} "
                f"(epoch {epoch}); the last good checkpoint is "
                f"{last[-1] if last else 'none (nothing saved yet)'}. Lower optim.base_lr "
                "or check the input scale."
            )
