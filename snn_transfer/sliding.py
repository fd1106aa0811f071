"""Sliding training: static inputs are replaced, sample by sample, by their event partners.

At iteration ``i`` of ``N`` the probability is ``P = min(1, (i / N) ** power)`` (power 3 in
the method), so the static branch sees mostly static images early and mostly events late.
Each static sample is replaced independently with probability ``P`` by the event tensor in
the same batch slot; labels do not change, since both branches share the event label.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from snn_transfer.errors import ConfigError

SCHEDULES = ("power", "none", "two_stage")


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
    """

    kind: str = "power"
    power: float = 3.0

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ConfigError(
                f"sliding schedule {self.kind!r} is unknown; choose one of {', '.join(SCHEDULES)}"
            )
        if self.power <= 0:
            raise ConfigError(f"sliding power = {self.power} must be positive")

    def probability(self, iteration: int, iterations_per_epoch: int, epochs: int) -> float:
        total = iterations_per_epoch * epochs
        if self.kind == "none":
            return 0.0
        if self.kind == "two_stage":
            epoch = iteration // max(iterations_per_epoch, 1)
            return 0.0 if epoch < epochs / 2 else 1.0
        return slide_probability(iteration, total, self.power)


def replace_static(
    static: torch.Tensor,
    event: torch.Tensor,
    probability: float,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace each static sample by the event sample of its slot with ``probability``.

    ``static`` and ``event`` are ``[T, B, ...]``. Returns the mixed batch (a new tensor; the
    inputs are not modified) and the boolean mask ``[B]`` of replaced slots.
    """
    if static.shape != event.shape:
        raise ConfigError(
            f"static batch {tuple(static.shape)} and event batch {tuple(event.shape)} differ; "
            "static inputs must be converted to the event frame shape"
        )
    draws = torch.rand(static.shape[1], generator=generator)
    mask = (draws < probability).to(static.device)
    shape = (1, -1) + (1,) * (static.dim() - 2)
    return torch.where(mask.view(shape), event, static), mask
