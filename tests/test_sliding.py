"""The sliding schedule and the per-sample replacement."""

from __future__ import annotations

import pytest
import torch

from snn_transfer.errors import ConfigError
from snn_transfer.sliding import SlidingSchedule, slide_mask, slide_probability


def test_slide_probability_at_the_reference_points():
    got = [round(slide_probability(p, 100), 3) for p in (25, 50, 75, 90)]
    assert got == [0.016, 0.125, 0.422, 0.729]
    assert slide_probability(0, 100) == 0.0 and slide_probability(150, 100) == 1.0


def test_schedules():
    power = SlidingSchedule("power")
    assert power.probability(50, 10, 10) == pytest.approx(0.125)
    assert SlidingSchedule("none").probability(99, 10, 10) == 0.0
    two = SlidingSchedule("two_stage")
    assert [two.probability(i, 10, 10) for i in (0, 49, 50, 99)] == [0.0, 0.0, 1.0, 1.0]
    with pytest.raises(ConfigError, match="sliding.kind = 'cubic' must be one of power, none"):
        SlidingSchedule("cubic")


def test_sample_mask_replaces_whole_samples_with_the_probability():
    g = torch.Generator().manual_seed(0)
    mask = slide_mask("sample", 0.3, 4000, 4, g)
    assert mask.shape == (4, 4000) and mask.dtype == torch.bool
    # a replaced slot is replaced at every step
    assert torch.equal(mask.all(dim=0), mask.any(dim=0))
    assert abs(mask[0].float().mean().item() - 0.3) < 0.03
    assert not slide_mask("sample", 0.0, 50, 4, g).any()
    assert slide_mask("sample", 1.0, 50, 4, g).all()
    # the draws of the method: one uniform per sample, u < P
    draws = torch.rand(4000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(mask[0], draws < 0.3)


def test_step_mask_replaces_the_later_steps_binomially():
    g = torch.Generator().manual_seed(1)
    steps = 6
    mask = slide_mask("step", 0.4, 20000, steps, g)
    replaced = mask.sum(dim=0)
    # once a step is replaced every later one is too: a suffix of events
    for r in range(steps + 1):
        rows = mask[:, replaced == r]
        assert torch.equal(rows, (torch.arange(steps) >= steps - r)[:, None].expand_as(rows))
    # Binomial(6, 0.4): mean 2.4, variance 1.44
    assert replaced.float().mean().item() == pytest.approx(2.4, abs=0.05)
    assert replaced.float().var().item() == pytest.approx(1.44, abs=0.08)
    assert not slide_mask("step", 0.0, 30, steps, g).any()
    assert slide_mask("step", 1.0, 30, steps, g).all()
    with pytest.raises(ConfigError, match="sliding.mix"):
        slide_mask("time", 0.5, 3, 2, g)
    with pytest.raises(ConfigError, match="sliding.mix = 'time'"):
        SlidingSchedule(mix="time")
