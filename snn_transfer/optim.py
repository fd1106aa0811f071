"""AdamW with the reference's parameter groups and per-epoch learning-rate schedules.

``lr = base_lr * global_batch / 1024`` (5e-3 * 120 / 1024 = 5.86e-4 for the VGG recipe).
Weight decay applies to weight matrices and kernels only: 1-D parameters (BatchNorm, biases,
the STR coefficients) are exempt, as timm's filter does in the reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from snn_transfer.errors import ConfigError

SCHEDULES = ("cosine", "step", "constant")


@dataclass(frozen=True)
class OptimConfig:
    """AdamW and its schedule; epochs count from 0, the schedule is stepped per epoch."""

    base_lr: float = 5e-3
    weight_decay: float = 0.01
    eps: float = 1e-8
    schedule: str = "cosine"
    warmup_epochs: int = 5
    warmup_lr: float = 1e-6
    min_lr: float = 1e-5
    step_epochs: int = 40
    step_gamma: float = 0.1

    def __post_init__(self) -> None:
        if not self.base_lr > 0:
            raise ConfigError(f"optim.base_lr = {self.base_lr} must be > 0")
        if self.weight_decay < 0:
            raise ConfigError(f"optim.weight_decay = {self.weight_decay} must be >= 0")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"optim.schedule = {self.schedule!r}; choose one of {SCHEDULES}")
        if self.warmup_epochs < 0 or self.step_epochs < 1:
            raise ConfigError("optim.warmup_epochs must be >= 0 and optim.step_epochs >= 1")
        # what the checks above leave open: infinities, NaN, negative rates
        _check_finite("optim.base_lr", self.base_lr, strict=True)
        _check_finite("optim.warmup_lr", self.warmup_lr, strict=False)
        _check_finite("optim.min_lr", self.min_lr, strict=False)
        _check_finite("optim.weight_decay", self.weight_decay, strict=False)
        _check_finite("optim.eps", self.eps, strict=True)
        gamma = self.step_gamma
        if not (_is_number(gamma) and 0 < gamma <= 1):
            raise ConfigError(f"optim.step_gamma = {gamma!r} must be a number in (0, 1]")
        for key, low in (("warmup_epochs", 0), ("step_epochs", 1)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"optim.{key} = {value!r} must be an integer >= {low}")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_finite(key: str, value: float, *, strict: bool) -> None:
    """``key`` must be a finite number > 0 (``strict``) or >= 0."""
    ok = _is_number(value) and math.isfinite(value) and (value > 0 if strict else value >= 0)
    if not ok:
        raise ConfigError(f"{key} = {value!r} must be a finite number {'>' if strict else '>='} 0")


def peak_lr(config: OptimConfig, global_batch: int) -> float:
    return config.base_lr * global_batch / 1024


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    decay, exempt = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (exempt if param.ndim <= 1 or name.endswith(".bias") else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": exempt, "weight_decay": 0.0},
    ]


def make_optimizer(model: nn.Module, config: OptimConfig, global_batch: int):
    return torch.optim.AdamW(
        parameter_groups(model, config.weight_decay),
        lr=peak_lr(config, global_batch),
        eps=config.eps,
    )


def epoch_lr(config: OptimConfig, peak: float, epoch: int, epochs: int) -> float:
    """Learning rate for ``epoch`` (0-based) of ``epochs``.

    Linear warm-up from ``warmup_lr`` over ``warmup_epochs``; then cosine from ``peak`` to
    ``min_lr`` over all ``epochs`` (the reference's timm schedule, which keeps counting the
    warm-up epochs in the cosine), a step decay by ``step_gamma`` every ``step_epochs``, or
    constant.
    """
    if epoch < config.warmup_epochs:
        return config.warmup_lr + (peak - config.warmup_lr) * epoch / config.warmup_epochs
    if config.schedule == "cosine":
        progress = epoch / max(epochs, 1)
        return config.min_lr + 0.5 * (peak - config.min_lr) * (1 + math.cos(math.pi * progress))
    if config.schedule == "step":
        return peak * config.step_gamma ** (epoch // config.step_epochs)
    return peak


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
