"""snn_transfer.step: one training iteration, and bf16 autocast on the CPU."""

from __future__ import annotations

import copy
import functools

import pytest
import torch

from snn_transfer.losses import LossConfig
from snn_transfer.models import TransferModel, create_model
from snn_transfer.step import autocast, training_step
from snn_transfer.training_module import TrainingModule

pytestmark = pytest.mark.usefixtures("one_thread")


def batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    shape = (3, 4, 2, 20, 20)
    event = torch.poisson(torch.full(shape, 1.0), generator=gen)
    static = torch.rand((1, 4, 1, 20, 20), generator=gen).expand(shape).contiguous()
    return static, event, torch.tensor([0, 1, 2, 3])


@pytest.mark.parametrize("compact", [True, False])
def test_cpu_bf16_autocast_is_close_to_float32_with_the_objective_in_float32(compact):
    torch.manual_seed(0)
    backbone = create_model("tiny", 5, bn_mode="per_step", compact=compact)
    model = TrainingModule(TransferModel(backbone, 3), None)
    twin = copy.deepcopy(model)
    static, event, labels = batch()
    seen = {}

    def inspect(total, terms, out):
        seen["total"], seen["terms"], seen["out"] = total, terms, out

    losses = {}
    for name, module, amp in (("float32", model, "none"), ("bf16", twin, "bf16")):
        optimizer = torch.optim.SGD(module.parameters(), lr=0.0)
        mixed = functools.partial(autocast, amp, torch.device("cpu"))
        loss, terms, out = training_step(
            module, optimizer, LossConfig(), static, event, labels, autocast=mixed,
            inspect=inspect,
        )  # fmt: skip
        losses[name] = loss.item()
        assert loss.dtype == torch.float32 and seen["total"].dtype == torch.float32
        assert all(t.dtype == torch.float32 for t in terms.values())
        if amp == "bf16":  # the forward ran in bf16, the objective in float32 all the same
            assert out.event_logits.dtype == torch.bfloat16
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        assert grads and all(g.dtype == torch.float32 and g.isfinite().all() for g in grads)
    assert losses["bf16"] == pytest.approx(losses["float32"], rel=0.05)


def test_autocast_contexts():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    with autocast("bf16", cpu):
        assert torch.is_autocast_enabled("cpu")
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16
    with autocast("fp16", cpu):  # fp16 autocast is CUDA only: float32 on a CPU
        assert not torch.is_autocast_enabled("cpu")
    with autocast("none", cuda):
        assert not torch.is_autocast_enabled("cuda")
