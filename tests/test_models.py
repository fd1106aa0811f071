"""Registry, options, shapes, parameter counts, heads, gradient flow and state reset."""

from __future__ import annotations

import copy

import pytest
import torch
from spikingjelly.activation_based import neuron
from torch import nn

from snn_transfer.errors import ConfigError
from snn_transfer.models import (
    NeuronConfig,
    SeqBatchNorm2d,
    TransferModel,
    count_parameters,
    create_model,
    list_models,
    model_options,
)

# (name, K, input [T, B, C, H, W], feature size D)
CASES = {
    "vggsnn": (11, (2, 2, 2, 48, 48), 512 * 6 * 6),
    "resnet18": (5, (2, 2, 2, 48, 48), 512),
    "scnn": (7, (4, 2, 2, 28, 28), 300),
    "tiny": (5, (3, 2, 2, 34, 34), 64 * 8 * 8),
}


pytestmark = pytest.mark.usefixtures("one_thread")


def frames(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """Binary event-like frames scaled so every model fires in its last layers."""
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=gen) > 0.5).float() * 4.0


def test_registry_lists_the_four_models():
    assert list_models() == ["resnet18", "scnn", "tiny", "vggsnn"]
    assert model_options("tiny") == {"bn_mode": "shared", "bn": True, "compact": True}
    assert model_options("vggsnn") == {"bn_mode": "shared", "compact": True}


@pytest.mark.parametrize("name", sorted(CASES))
def test_shapes_of_logits_and_features(name):
    torch.manual_seed(0)
    k, shape, d = CASES[name]
    model = create_model(name, k)
    logits = model(frames(shape))
    assert logits.shape == (shape[0], shape[1], k)
    logits, features = model(frames(shape), head="static", return_features=True)
    assert logits.shape == (shape[0], shape[1], k)
    assert features.shape == (shape[0], shape[1], d)


def test_vggsnn_parameter_count_against_the_reference():
    model = create_model("vggsnn", 101)
    convs = 2 * 64 * 9 + 64 * 128 * 9 + 128 * 256 * 9 + 256 * 256 * 9 + 256 * 512 * 9
    convs += 3 * 512 * 512 * 9
    bn = 2 * (64 + 128 + 256 + 256 + 4 * 512)
    heads = 2 * (4608 * 101 + 101)
    assert count_parameters(model) == convs + bn + heads == 10_153_674
    # the reference's 10,153,700 adds 10 STR coefficients, 8 thresholds and 8 surrogate alphas;
    # the wrapper owns the STR coefficients, thresholds and alphas are constants here
    assert count_parameters(TransferModel(model, num_steps=10)) == 10_153_700 - 8 - 8


@pytest.mark.parametrize(
    ("name", "k", "options", "expected"),
    [
        ("resnet18", 20, {}, 11_187_880),
        ("scnn", 1623, {}, 765 + 15_040 + 192_300 + 488_523),
        ("tiny", 10, {}, 288 + 4608 + 18432 + 2 * (16 + 32 + 64) + 2 * (1024 * 10 + 10)),
        ("tiny", 10, {"bn": False}, 288 + 4608 + 18432 + (16 + 32 + 64) + 2 * (1024 * 10 + 10)),
    ],
)
def test_parameter_counts(name, k, options, expected):
    assert count_parameters(create_model(name, k, **options)) == expected


def test_count_parameters_counts_frozen_ones_only_when_asked():
    model = create_model("tiny", 10)
    model.static_head.requires_grad_(False)
    assert count_parameters(model) == 44_052 - 10_250
    assert count_parameters(model, trainable_only=False) == 44_052


def test_heads_differ_and_share_the_features():
    torch.manual_seed(0)
    model = create_model("tiny", 5)
    x = frames((3, 2, 2, 34, 34))
    static, f_static = model(x, head="static", return_features=True)
    event, f_event = model(x, head="event", return_features=True)
    assert torch.equal(f_static, f_event)
    assert not torch.allclose(static, event)
    hidden, _ = model.forward_features(x)
    assert torch.allclose(event, model.event_head(hidden))
    assert torch.allclose(static, model.static_head(hidden))


def test_scnn_has_one_shared_head():
    torch.manual_seed(0)
    model = create_model("scnn", 7)
    assert model.head_layer("static") is model.head_layer("event") is model.head
    x = frames((4, 2, 2, 28, 28))
    assert torch.equal(model(x, head="static"), model(x, head="event"))


def test_unknown_head_is_a_config_error():
    model = create_model("tiny", 5)
    with pytest.raises(ConfigError, match="head='rgb'.*static, event"):
        model(frames((2, 1, 2, 34, 34)), head="rgb")


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_reach_every_parameter_from_each_head_and_the_features(name):
    torch.manual_seed(0)
    k, shape, _ = CASES[name]
    model = create_model(name, k)
    x = frames(shape)
    heads = {id(p) for p in [*model.static_head.parameters(), *model.event_head.parameters()]}
    for target in ("static", "event", "features"):
        model.zero_grad(set_to_none=True)
        head = "event" if target == "features" else target
        logits, features = model(x, head, True)
        (features if target == "features" else logits).square().sum().backward()
        used = model.head_layer(target).parameters() if target != "features" else []
        used_ids = {id(p) for p in used}
        for pname, p in model.named_parameters():
            reached = p.grad is not None and bool(p.grad.abs().sum() > 0)
            expect = id(p) not in heads or id(p) in used_ids
            assert reached == expect, (target, pname)


def test_every_forward_starts_from_rest_and_leaves_no_state():
    torch.manual_seed(0)
    model = create_model("tiny", 5)
    x, other = frames((3, 2, 2, 34, 34), 1), frames((3, 4, 2, 34, 34), 2)
    first = model(x)
    model(other)  # a different batch size in between
    assert torch.equal(model(x), first)
    lifs = [m for m in model.modules() if isinstance(m, neuron.LIFNode)]
    assert len(lifs) == 3
    assert all(m.v == 0.0 and not isinstance(m.v, torch.Tensor) for m in lifs)
    assert all(m.v_seq is None for m in lifs)
    # no graph-holding tensors left behind, so the model can be copied (EMA, checkpoints)
    assert torch.equal(copy.deepcopy(model)(x), first)


def test_unknown_model_and_options_are_config_errors():
    with pytest.raises(ConfigError, match="model='vgg11' is unknown.*resnet18, scnn, tiny, vggsnn"):
        create_model("vgg11", 10)
    with pytest.raises(ConfigError, match="'dropout' is not accepted by model 'vggsnn'.*bn_mode"):
        create_model("vggsnn", 10, dropout=0.1)
    with pytest.raises(ConfigError, match="'bn' is not accepted by model 'resnet18'"):
        create_model("resnet18", 10, bn=False)
    with pytest.raises(ConfigError, match="bn_mode='time'.*shared, per_step"):
        create_model("tiny", 10, bn_mode="time")
    with pytest.raises(ConfigError, match="bn_mode"):
        create_model("scnn", 10, bn_mode="time")
    with pytest.raises(ConfigError, match="num_classes=0"):
        create_model("tiny", 0)
    with pytest.raises(ConfigError, match="bn=1 must be true or false"):
        create_model("tiny", 10, bn=1)
    with pytest.raises(ConfigError, match="neuron= must be a NeuronConfig"):
        create_model("tiny", 10, neuron=NeuronConfig(), tau=3.0)


def test_neuron_options_reach_every_lif():
    model = create_model("resnet18", 4, tau=3, v_threshold=1, surrogate="atan", detach_reset=False)
    lifs = [m for m in model.modules() if isinstance(m, neuron.LIFNode)]
    assert len(lifs) == 2 * 8 + 3  # two per block plus three downsample paths
    for lif in lifs:
        assert (lif.tau, lif.v_threshold, lif.v_reset, lif.detach_reset) == (3.0, 1.0, 0.0, False)
        assert type(lif.surrogate_function).__name__ == "ATan"
    same = create_model("resnet18", 4, neuron=NeuronConfig(tau=3.0, surrogate="atan"))
    assert all(m.tau == 3.0 for m in same.modules() if isinstance(m, neuron.LIFNode))


def test_bn_mode_option_reaches_every_batchnorm():
    model = create_model("vggsnn", 4, bn_mode="per_step")
    modes = [m.mode for m in model.modules() if isinstance(m, SeqBatchNorm2d)]
    assert modes == ["per_step"] * 8
    assert not any(
        isinstance(m, nn.BatchNorm2d) for m in create_model("tiny", 4, bn=False).modules()
    )


@pytest.mark.parametrize(
    ("name", "shape", "match"),
    [
        ("vggsnn", (2, 1, 2, 32, 32), "48x48"),
        ("scnn", (2, 1, 2, 34, 34), "28x28"),
        ("tiny", (2, 1, 3, 34, 34), r"\[T, B, 2, H, W\]"),
        ("tiny", (1, 2, 34, 34), r"\[T, B, 2, H, W\]"),
        ("resnet18", (2, 1, 2, 4, 4), "at least 8x8"),
    ],
)
def test_wrong_input_shapes_are_named(name, shape, match):
    with pytest.raises(ValueError, match=match):
        create_model(name, 3)(torch.zeros(shape))
