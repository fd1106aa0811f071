"""The compact training path (snn_transfer.models.compact) equals the modules' own forward."""

from __future__ import annotations

import copy

import pytest
import torch
from spikingjelly.activation_based.functional import reset_net

from snn_transfer.models import TransferModel, create_model
from snn_transfer.models.compact import compact_applies, plan_features
from snn_transfer.models.compact_ops import (
    BatchNormLIF,
    lif_forward,
    pack_bits,
    unpack_bits,
)
from snn_transfer.models.neurons import NeuronConfig

pytestmark = pytest.mark.usefixtures("one_thread")

# (model, size, T, B): vggsnn needs 48x48; both small enough for one thread
CASES = (("tiny", 20, 3, 4), ("vggsnn", 48, 2, 2))


def frames(steps: int, batch: int, size: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    counts = torch.poisson(torch.full((steps, batch, 2, size, size), 1.5), generator=gen)
    return counts * (torch.rand(counts.shape, generator=gen) < 0.3)


def twins(name: str, **options) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The same model twice, with equal weights: compact off, compact on."""
    torch.manual_seed(0)
    plain = create_model(name, 5, compact=False, **options)
    compact = copy.deepcopy(plain)
    compact.compact = True
    return plain, compact


def run(model, x: torch.Tensor, labels: torch.Tensor):
    """Logits, features and the gradients of a loss that reads both."""
    logits, features = model(x, head="event", return_features=True)
    loss = torch.nn.functional.cross_entropy(logits.mean(0), labels)
    loss = loss + 1e-3 * features.square().mean()
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    reset_net(model)
    return logits.detach(), features.detach(), grads


def assert_same_buffers(a: torch.nn.Module, b: torch.nn.Module, atol: float) -> None:
    for (name, x), (_, y) in zip(a.named_buffers(), b.named_buffers(), strict=True):
        if x.dtype.is_floating_point:
            torch.testing.assert_close(x, y, rtol=1e-5, atol=atol, msg=name)
        else:
            assert torch.equal(x, y), name


@pytest.mark.parametrize("bn_mode", ["shared", "per_step"])
@pytest.mark.parametrize(("name", "size", "steps", "batch"), CASES)
def test_compact_equals_the_modules(name, size, steps, batch, bn_mode):
    plain, compact = twins(name, bn_mode=bn_mode)
    blocks = plan_features(compact.features)
    assert blocks is not None and len(blocks) == (8 if name == "vggsnn" else len(blocks))
    labels = torch.arange(batch) % 5
    for seed in range(2):  # a second iteration starts from the updated running statistics
        x = frames(steps, batch, size, seed)
        assert compact_applies(compact.features, blocks, x)
        want = run(plain, x, labels)
        got = run(compact, x, labels)
        torch.testing.assert_close(got[0], want[0], rtol=1e-5, atol=1e-5)
        # the alignment layer's membrane potentials, with their gradient
        torch.testing.assert_close(got[1], want[1], rtol=1e-5, atol=1e-5)
        for g, w in zip(got[2], want[2], strict=True):
            if w is None:  # the static head
                assert g is None
                continue
            torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-6)
    assert_same_buffers(compact, plain, atol=1e-6)


@pytest.mark.parametrize(
    "neuron",
    [
        {"v_reset": None, "detach_reset": False, "surrogate": "atan"},
        {"detach_reset": False, "surrogate": "rectangle", "tau": 3.0},
        {"v_reset": 0.1, "surrogate": "sigmoid"},
    ],
)
def test_compact_equals_the_modules_for_other_neurons(neuron):
    # surrogate paths through the reset (detach_reset False) and other surrogates
    plain, compact = twins("tiny", bn_mode="per_step", **neuron)
    x, labels = frames(3, 4, 20, 7), torch.arange(4) % 5
    want, got = run(plain, x, labels), run(compact, x, labels)
    torch.testing.assert_close(got[1], want[1], rtol=1e-5, atol=1e-5)
    for g, w in zip(got[2], want[2], strict=True):
        if w is not None:
            torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-6)
    assert_same_buffers(compact, plain, atol=1e-6)


def test_eval_mode_runs_the_modules_unchanged():
    plain, compact = twins("tiny", bn_mode="per_step")
    x = frames(3, 2, 20, 5)
    plain.train()
    compact.train()
    run(plain, x, torch.zeros(2, dtype=torch.long))
    run(compact, x, torch.zeros(2, dtype=torch.long))
    plain.eval()
    compact.eval()
    assert not compact_applies(compact.features, plan_features(compact.features), x)
    with torch.no_grad():
        a = plain(x, head="event", return_features=True)
        b = compact(x, head="event", return_features=True)
    for u, v in zip(a, b, strict=True):
        torch.testing.assert_close(u, v, rtol=1e-5, atol=1e-6)


def test_transfer_model_running_stats_follow_the_chosen_branches():
    # both branches through TransferModel, both running-statistics modes
    for stats in ("event", "both"):
        plain, compact = twins("tiny", bn_mode="per_step")
        models = [TransferModel(m, num_steps=3, bn_running_stats=stats) for m in (plain, compact)]
        static, event = frames(3, 2, 20, 1), frames(3, 2, 20, 2)
        outs = []
        for model in models:
            out = model(static, event)
            loss = out.event_logits.sum() + out.static_features.sum() * 1e-3
            loss.backward()
            outs.append(out)
        torch.testing.assert_close(outs[1].static_logits, outs[0].static_logits)
        torch.testing.assert_close(outs[1].event_features, outs[0].event_features)
        assert_same_buffers(models[1], models[0], atol=1e-6)
        for p, q in zip(models[0].parameters(), models[1].parameters(), strict=True):
            torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6)


def test_hooks_and_other_stacks_fall_back_to_the_modules():
    _, compact = twins("tiny")
    x = frames(2, 2, 20, 0)
    blocks = plan_features(compact.features)
    handle = compact.features[0].register_forward_hook(lambda *_: None)
    assert not compact_applies(compact.features, blocks, x)
    handle.remove()
    assert compact_applies(compact.features, blocks, x)
    with torch.no_grad():
        assert not compact_applies(compact.features, blocks, x)
    assert plan_features(torch.nn.Sequential(torch.nn.ReLU())) is None


@pytest.mark.parametrize("shape", [(1,), (7,), (8,), (3, 5, 7), (2, 64)])
def test_bits_round_trip(shape):
    gen = torch.Generator().manual_seed(0)
    spikes = (torch.rand(shape, generator=gen) < 0.4).float()
    packed = pack_bits(spikes)
    assert packed.dtype == torch.uint8 and packed.numel() == -(-spikes.numel() // 8)
    assert torch.equal(unpack_bits(packed, spikes.shape, torch.float32), spikes)


@pytest.mark.parametrize("per_step", [False, True])
@pytest.mark.parametrize("soft_reset", [False, True])
def test_batchnorm_lif_passes_gradcheck(per_step, soft_reset):
    # float64; with the reset detached, v is a piecewise smooth function of the input whose
    # true gradient the backward computes (the surrogate only enters through the spikes)
    neuron = NeuronConfig(v_reset=None if soft_reset else 0.0, detach_reset=True)
    from snn_transfer.models.compact import _neuron_params  # noqa: PLC2701 - test only
    from snn_transfer.models.neurons import make_lif

    params = _neuron_params(make_lif(neuron, store_v_seq=True))
    gen = torch.Generator().manual_seed(3)
    steps = 3
    x = torch.randn(2 * steps, 2, 2, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.tensor([1.0, 0.7], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([0.1, -0.2], dtype=torch.float64, requires_grad=True)

    def f(x, w, b):
        spikes, v, *_ = BatchNormLIF.apply(x, w, b, steps, per_step, 1e-5, params, True, True)
        return v  # spikes are piecewise constant; v carries the dynamics

    assert torch.autograd.gradcheck(f, (x, w, b), atol=1e-6)
    spikes, v, mean, var = BatchNormLIF.apply(x, w, b, steps, per_step, 1e-5, params, True, True)
    assert mean.shape == ((steps * 2,) if per_step else (2,))
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}


def test_lif_forward_matches_spikingjelly():
    from snn_transfer.models.compact import _neuron_params  # noqa: PLC2701 - test only
    from snn_transfer.models.neurons import make_lif

    node = make_lif(NeuronConfig(), store_v_seq=True)
    params = _neuron_params(node)
    current = torch.randn(4, 2, 3, 5, generator=torch.Generator().manual_seed(1))
    want = node(current)
    spikes, v_seq = lif_forward(
        current.transpose(0, 1).reshape(2, 4, -1), params, True, torch.float32
    )
    assert torch.equal(spikes.view(2, 4, 3, 5).transpose(0, 1), want)
    assert torch.equal(v_seq.view(2, 4, 3, 5).transpose(0, 1), node.v_seq)
