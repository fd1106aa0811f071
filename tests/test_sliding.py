"""The sliding schedule and the per-sample replacement."""

from __future__ import annotations

import pytest
import torch

from snn_transfer.errors import ConfigError
from snn_transfer.sliding import SlidingSchedule, replace_static, slide_probability


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
    with pytest.raises(ConfigError, match="sliding schedule 'cubic' is unknown"):
        SlidingSchedule("cubic")


def test_replacement_follows_the_probability_per_sample():
    static = torch.zeros(2, 4000, 3)
    event = torch.ones(2, 4000, 3)
    g = torch.Generator().manual_seed(0)
    mixed, mask = replace_static(static, event, 0.3, g)
    assert mixed.shape == static.shape and static.sum() == 0  # input untouched
    # replaced slots carry the event tensor at every step, others stay static
    assert torch.equal(mixed[:, mask], event[:, mask])
    assert torch.equal(mixed[:, ~mask], static[:, ~mask])
    assert abs(mask.float().mean().item() - 0.3) < 0.03
    assert not replace_static(static, event, 0.0, g)[1].any()
    assert replace_static(static, event, 1.0, g)[1].all()
