"""Sliding training: static inputs are replaced, sample by sample, by their event partners.

At iteration ``i`` of ``N`` the probability is ``P = min(1, (i / N) ** power)`` (power 3 in
the method), so the static branch sees mostly static images early and mostly events late.
Each static sample is replaced independently with probability ``P`` by the event tensor in
the same batch slot (``mix="sample"``, the method); labels do not change, since both branches
share the event label. ``mix="step"`` mixes in time instead: each sample keeps its static
frames up to a random step and takes the event frames from there on, with the number of
replaced steps ``~ Binomial(T, P)``, so the expected share of event frames is ``P`` as well.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from snn_transfer.errors import ConfigError

SCHEDULES = ("power", "none", "two_stage")
MIXES = ("sample", "step")


def slide_probability(iteration: int, total_iterations: int, power: float = 3.0) -> float:
    """``min(1, (iteration / total_iterations) ** power)``: 0.016, 0.125, 0.42 and 0.73 at
    25, 50, 75 and 90 % of training with ``power = 3``."""
    if total_iterations <= 0:
        raise ConfigError(f"total_iterations = {total_iterations} must be positive")
    return min(1.0, (max(iteration, 0) / total_iterations) ** power)


@dataclass(frozen=True)
class SlidingSchedule:
    """How the replacement probability evolves.

    * ``power``: the method's ``min(1, progress ** power)``, computed every iteration;
    * ``none``: ``P = 0``, static inputs throughout;
    * ``two_stage``: the reference's ablation, ``P = 0`` for the first half of the epochs,
      then ``P = 1``.

    ``mix``: ``sample`` (whole samples replaced, the method) or ``step`` (the later steps
    of a sample replaced; see the module docstring).
    """

    kind: str = "power"
    power: float = 3.0
    mix: str = "sample"

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ConfigError(f"sliding.kind = {self.kind!r} must be one of {', '.join(SCHEDULES)}")
        power = self.power
        number = isinstance(power, int | float) and not isinstance(power, bool)
        if not (number and math.isfinite(power) and power > 0):
            raise ConfigError(f"sliding.power = {power!r} must be a finite number > 0")
        if self.mix not in MIXES:
            raise ConfigError(f"sliding.mix = {self.mix!r} must be one of {', '.join(MIXES)}")

    def probability(self, iteration: int, iterations_per_epoch: int, epochs: int) -> float:
        total = iterations_per_epoch * epochs
        if self.kind == "none":
            return 0.0
        if self.kind == "two_stage":
            epoch = iteration // max(iterations_per_epoch, 1)
            return 0.0 if epoch < epochs / 2 else 1.0
        return slide_probability(iteration, total, self.power)


def slide_mask(
    mix: str, probability: float, batch: int, steps: int, generator: torch.Generator
) -> torch.Tensor:
    """Which static frames are replaced by their event partners: bool ``[T, B]``.

    ``sample``: one draw per sample, ``u_b < probability``, for all its steps. ``step``: the
    last ``r_b ~ Binomial(steps, probability)`` steps of sample ``b``. The draws come from
    ``generator`` only, for the whole (global) batch, so every process of a distributed run
    draws the same mask and keeps its own columns.
    """
    if mix == "sample":
        return (torch.rand(batch, generator=generator) < probability).expand(steps, batch)
    if mix == "step":
        replaced = (torch.rand(steps, batch, generator=generator) < probability).sum(dim=0)
        return torch.arange(steps)[:, None] >= steps - replaced[None, :]
    raise ConfigError(f"sliding.mix = {mix!r} must be one of {', '.join(MIXES)}")


def slide(static: torch.Tensor, event: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The static batch ``[T, B, P, H, W]`` with the frames where ``mask`` ``[T, B]`` is True
    replaced by the event frames of the same slot and step."""
    return torch.where(mask[:, :, None, None, None], event, static)
