"""TransferModel: both branches in one forward, STR coefficients, baseline, DDP."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from snn_transfer.errors import ConfigError
from snn_transfer.models import TransferModel, TransferOutput, count_parameters, create_model

T = 3


pytestmark = pytest.mark.usefixtures("one_thread")


def batch(seed: int, b: int = 4, size: int = 34) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(T, b, 2, size, size, generator=gen) > 0.6).float() * 2.0


def test_one_forward_returns_both_branches():
    torch.manual_seed(0)
    model = TransferModel(create_model("tiny", 5), num_steps=T)
    out = model(batch(1), batch(2))
    assert isinstance(out, TransferOutput)
    assert out.static_logits.shape == out.event_logits.shape == (T, 4, 5)
    assert out.static_features.shape == out.event_features.shape == (T, 4, 4096)
    # eta as an output of this forward (DDP must see it used by the forward that used it)
    assert torch.equal(out.str_coefficients, model.str_coefficients.detach())
    assert out.str_coefficients.grad_fn is not None
    assert model(None, batch(2)).str_coefficients is None  # no static branch, eta unused
    assert out.str_coefficients.tolist() == [1.0] * T


def test_branches_equal_separate_runs_from_rest():
    torch.manual_seed(0)
    backbone = create_model("tiny", 5, bn=False)
    model = TransferModel(backbone, num_steps=T)
    static, event = batch(1), batch(2)
    out = model(static, event)
    alone_static, f_static = backbone(static, head="static", return_features=True)
    alone_event, f_event = backbone(event, head="event", return_features=True)
    assert torch.equal(out.static_logits, alone_static)
    assert torch.equal(out.static_features, f_static)
    assert torch.equal(out.event_logits, alone_event)
    assert torch.equal(out.event_features, f_event)
    assert torch.equal(model.classify(event), alone_event)


def test_str_coefficients_are_parameters_of_the_wrapper():
    backbone = create_model("tiny", 5)
    model = TransferModel(backbone, num_steps=T, str_init=0.5)
    assert count_parameters(model) == count_parameters(backbone) + T
    assert model.str_coefficients.tolist() == [0.5] * T
    names = [n for n, _ in model.named_parameters()]
    assert "str_coefficients" in names
    without = TransferModel(create_model("tiny", 5), num_steps=T, use_str=False)
    assert without.str_coefficients is None
    assert without(batch(1), batch(2)).str_coefficients is None


def test_baseline_freezes_the_static_head_and_runs_the_event_branch_only():
    torch.manual_seed(0)
    backbone = create_model("tiny", 5)
    full = count_parameters(backbone)
    model = TransferModel(backbone, num_steps=T, static_branch=False, use_str=False)
    assert count_parameters(model) == full - (1024 * 5 + 5)
    assert "backbone.static_head.weight" in model.state_dict()
    out = model(None, batch(2))
    assert out.static_logits is None and out.static_features is None
    with pytest.raises(ValueError, match="no static branch"):
        model(batch(1), batch(2))


def test_baseline_keeps_the_shared_scnn_head_trainable():
    backbone = create_model("scnn", 5)
    model = TransferModel(backbone, num_steps=T, static_branch=False)
    assert all(p.requires_grad for p in model.parameters())


def test_wrong_steps_and_options():
    model = TransferModel(create_model("tiny", 5), num_steps=T)
    with pytest.raises(ValueError, match=r"event batch must be \[T=3"):
        model(batch(1), torch.zeros(2, 4, 2, 34, 34))
    with pytest.raises(ValueError, match=r"static batch must be \[T=3"):
        model(torch.zeros(2, 4, 2, 34, 34), batch(1))
    with pytest.raises(ConfigError, match="num_steps=0"):
        TransferModel(create_model("tiny", 5), num_steps=0)


def transfer_loss(out: TransferOutput, labels: torch.Tensor) -> torch.Tensor:
    """A stand-in using every output: per-step CE, a feature term and the STR weights."""
    sigma = torch.sigmoid(out.str_coefficients) if out.str_coefficients is not None else None
    event_ce = torch.stack([F.cross_entropy(z, labels) for z in out.event_logits])
    if sigma is not None:
        event_ce = event_ce * (1 - sigma)
    loss = event_ce.mean()
    if out.static_logits is not None:
        loss = loss + torch.stack([F.cross_entropy(z, labels) for z in out.static_logits]).mean()
        gap = (out.static_features - out.event_features).square().mean(dim=(1, 2))
        loss = loss + (gap * sigma).mean()
    return loss


@pytest.mark.parametrize("static_branch", [True, False], ids=["transfer", "baseline"])
def test_one_forward_per_backward_under_ddp(tmp_path, static_branch):
    torch.manual_seed(0)
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1
    )
    try:
        model = TransferModel(
            create_model("tiny", 5, bn=False),
            num_steps=T,
            static_branch=static_branch,
            use_str=static_branch,
        )
        ddp = DistributedDataParallel(model)  # find_unused_parameters=False
        labels = torch.tensor([0, 1, 2, 3])
        for step in range(2):  # an unused parameter fails at the second forward
            ddp.zero_grad(set_to_none=True)
            static = batch(10 + step) if static_branch else None
            transfer_loss(ddp(static, batch(20 + step)), labels).backward()
        trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for _, p in trainable)
        assert any(n == "str_coefficients" for n, _ in trainable) == static_branch
    finally:
        dist.destroy_process_group()


def test_running_statistics_follow_the_event_branch_by_default():
    import torch

    from snn_transfer.models import TransferModel, create_model

    torch.manual_seed(0)
    static = torch.rand(2, 4, 2, 34, 34) * 5
    event = torch.rand(2, 4, 2, 34, 34)

    def running_means(stats, with_static):
        torch.manual_seed(1)
        model = TransferModel(create_model("tiny", 10), num_steps=2, bn_running_stats=stats)
        model(static if with_static else None, event)
        norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        return torch.cat([m.running_mean for m in norms]), [m.momentum for m in norms]

    event_only, _ = running_means("event", False)
    fixed, momenta = running_means("event", True)
    reference, _ = running_means("both", True)
    assert torch.equal(fixed, event_only)  # the static batch left no trace
    assert not torch.allclose(reference, event_only)  # the reference mixes both
    assert set(momenta) == {0.1}  # momentum restored after the static branch
