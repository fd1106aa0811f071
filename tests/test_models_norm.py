"""BatchNorm modes: shared (statistics over T*B) and per_step (statistics per time step)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from snn_transfer.models import SeqBatchNorm2d, create_model

pytestmark = pytest.mark.usefixtures("one_thread")


def drifting(t: int, b: int = 4, c: int = 3, seed: int = 0) -> torch.Tensor:
    """[T, B, C, 5, 5] whose mean grows with t and whose spread shrinks with t."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(t, b, c, 5, 5, generator=gen)
    steps = torch.arange(t, dtype=torch.float32).view(t, 1, 1, 1, 1)
    return x / (1 + steps) + 2 * steps


def pair(t: int) -> tuple[SeqBatchNorm2d, SeqBatchNorm2d, torch.Tensor]:
    shared, per_step = SeqBatchNorm2d(3, "shared"), SeqBatchNorm2d(3, "per_step")
    with torch.no_grad():
        for bn in (shared, per_step):
            bn.bn.weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
            bn.bn.bias.copy_(torch.tensor([0.0, -1.0, 0.3]))
    return shared, per_step, drifting(t)


def test_modes_are_identical_with_one_step():
    shared, per_step, x = pair(1)
    torch.testing.assert_close(shared(x), per_step(x), rtol=0, atol=0)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        assert torch.equal(getattr(shared.bn, name), getattr(per_step.bn, name))


def test_per_step_normalises_every_step_with_its_own_statistics():
    _, per_step, x = pair(3)
    per_step.bn.weight.data.fill_(1.0)
    per_step.bn.bias.data.zero_()
    y = per_step(x)
    assert y.shape == x.shape
    mean = y.mean(dim=(1, 3, 4))  # [T, C]
    var = y.var(dim=(1, 3, 4), unbiased=False)
    torch.testing.assert_close(mean, torch.zeros(3, 3), rtol=0, atol=1e-5)
    torch.testing.assert_close(var, torch.ones(3, 3), rtol=0, atol=1e-3)


def test_shared_normalises_the_pool_and_keeps_the_drift_between_steps():
    shared, _, x = pair(3)
    shared.bn.weight.data.fill_(1.0)
    shared.bn.bias.data.zero_()
    y = shared(x)
    torch.testing.assert_close(y.mean(dim=(0, 1, 3, 4)), torch.zeros(3), rtol=0, atol=1e-5)
    step_means = y.mean(dim=(1, 3, 4))[:, 0]
    # inputs at t = 0, 1, 2 centre on 0, 2, 4: after pooling the steps sit near -1.2, 0, 1.2
    assert step_means[0] < -1.0 and abs(step_means[1]) < 0.2 and step_means[2] > 1.0
    expected = (x - x.mean(dim=(0, 1, 3, 4), keepdim=True).view(1, 1, 3, 1, 1)) / torch.sqrt(
        x.var(dim=(0, 1, 3, 4), unbiased=False).view(1, 1, 3, 1, 1) + 1e-5
    )
    torch.testing.assert_close(y, expected, rtol=1e-4, atol=1e-4)


def test_running_statistics_of_both_modes():
    shared, per_step, x = pair(3)
    shared(x)
    per_step(x)
    m = 0.1
    n_pool = x.shape[1] * x.shape[3] * x.shape[4]
    want_mean, want_var = torch.zeros(3), torch.ones(3)
    for step in x:  # T momentum updates with the statistics of each step
        want_mean = (1 - m) * want_mean + m * step.mean(dim=(0, 2, 3))
        want_var = (1 - m) * want_var + m * step.var(dim=(0, 2, 3), unbiased=True)
    torch.testing.assert_close(per_step.bn.running_mean, want_mean)
    torch.testing.assert_close(per_step.bn.running_var, want_var)
    assert per_step.bn.num_batches_tracked.item() == 3
    # one update with the statistics of all T*B samples
    pooled = x.permute(2, 0, 1, 3, 4).reshape(3, -1)  # [C, T*B*H*W]
    assert pooled.shape[1] == 3 * n_pool
    torch.testing.assert_close(shared.bn.running_mean, m * pooled.mean(dim=1))
    torch.testing.assert_close(shared.bn.running_var, (1 - m) + m * pooled.var(dim=1))
    assert shared.bn.num_batches_tracked.item() == 1


def test_modes_agree_in_evaluation():
    shared, per_step, x = pair(3)
    per_step.load_state_dict(shared.state_dict())
    shared.eval()
    per_step.eval()
    torch.testing.assert_close(shared(x), per_step(x), rtol=0, atol=0)


def test_whole_models_match_with_one_step_and_differ_with_more():
    torch.manual_seed(0)
    shared = create_model("tiny", 5, bn_mode="shared")
    per_step = create_model("tiny", 5, bn_mode="per_step")
    per_step.load_state_dict(shared.state_dict())
    x = (torch.rand(3, 4, 2, 34, 34) > 0.7).float()
    torch.testing.assert_close(shared(x[:1]), per_step(x[:1]), rtol=0, atol=0)
    assert not torch.allclose(shared(x), per_step(x), atol=1e-3)


def test_sync_batchnorm_conversion_keeps_the_mode():
    model = create_model("tiny", 5, bn_mode="per_step")
    model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    norms = [m for m in model.modules() if isinstance(m, SeqBatchNorm2d)]
    assert len(norms) == 3
    assert all(isinstance(m.bn, nn.SyncBatchNorm) and m.mode == "per_step" for m in norms)
