"""BatchNorm over multi-step tensors ``[T, B, C, H, W]`` with statistics shared over T or per step.

``shared`` (SpikingJelly's multi-step default): the T steps are folded into the batch, so one
mean and variance per channel come from all ``T * B * H * W`` values and the running statistics
are updated once per forward. One BatchNorm call: the fast path.

``per_step`` (what the reference gets from its step-by-step execution): in training, step t is
normalised with the mean and biased variance of its own ``B * H * W`` values, and the running
statistics are updated T times, in order t = 0 .. T-1, each time with ``momentum`` (so after one
forward ``running = (1-m)^T running + sum_t m (1-m)^(T-1-t) stat_t``, with the unbiased
variance, as ``torch.nn.BatchNorm2d`` does). The affine weight and bias are shared by all steps.
In evaluation both modes normalise with the running statistics, so they give the same output.

With T = 1 the two modes are the same computation. With T > 1, in training, ``per_step`` gives
every step zero mean and unit variance per channel (before the affine), while ``shared`` only
centres the pool of all steps: a step whose inputs differ from the others (the first step of a
deeper layer, whose input neurons have not charged yet; early vs late event frames) keeps its
offset and scale, and the running statistics differ accordingly. Their per-step loop makes
``per_step`` T BatchNorm calls instead of one.

The statistics live in an inner ``torch.nn.BatchNorm2d`` (``.bn``), so
``torch.nn.SyncBatchNorm.convert_sync_batchnorm`` replaces it and both modes keep working,
now with statistics over all processes.
"""

from __future__ import annotations

import torch
from torch import nn

from snn_transfer.models._checks import check_choice

BN_MODES: tuple[str, ...] = ("shared", "per_step")


def check_bn_mode(mode: str) -> str:
    """Return ``mode`` if it is a BatchNorm mode; raise ConfigError naming ``bn_mode`` otherwise."""
    return check_choice("bn_mode", mode, BN_MODES)


class SeqBatchNorm2d(nn.Module):
    """BatchNorm2d on ``[T, B, C, H, W]`` with statistics over ``T*B`` (shared) or per step."""

    def __init__(self, num_features: int, mode: str = "shared") -> None:
        super().__init__()
        self.mode = check_bn_mode(mode)
        self.bn = nn.BatchNorm2d(num_features)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[T, B, C, H, W]`` -> normalised ``[T, B, C, H, W]``."""
        if self.mode == "per_step" and self.training:
            return torch.stack([self.bn(step) for step in x.unbind(0)])
        return self.bn(x.flatten(0, 1)).unflatten(0, x.shape[:2])
