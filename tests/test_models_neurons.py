"""LIF neurons: surrogate gradient values, feature taps against a hand-written LIF, backends."""

from __future__ import annotations

import math

import pytest
import torch
from spikingjelly.activation_based import neuron, surrogate

from snn_transfer.errors import ConfigError
from snn_transfer.models import (
    NeuronConfig,
    create_model,
    make_lif,
    make_surrogate,
    resolve_neuron_backend,
)
from snn_transfer.models import neurons as neurons_module

pytestmark = pytest.mark.usefixtures("one_thread")


POINTS = [-1.0, -0.5, -0.25, -0.1, 0.0, 0.1, 0.25, 0.49, 0.5, 1.0]


def _sig(z: float) -> float:
    return 1 / (1 + math.exp(-z))


EXPECTED_GRADIENT = {
    # max(0, 2 - 4|x|)
    "triangle": [0.0, 0.0, 1.0, 1.6, 2.0, 1.6, 1.0, 0.04, 0.0, 0.0],
    # 1 on |x| < 0.5
    "rectangle": [0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0],
    # 2 / (2 (1 + (pi x)^2))
    "atan": [1 / (1 + (math.pi * x) ** 2) for x in POINTS],
    # 4 s(4x) (1 - s(4x))
    "sigmoid": [4 * _sig(4 * x) * (1 - _sig(4 * x)) for x in POINTS],
}


def surrogate_gradient(fn: torch.nn.Module, points: list[float]) -> tuple[list, list]:
    x = torch.tensor(points, dtype=torch.float64, requires_grad=True)
    spikes = fn(x)
    spikes.sum().backward()
    return spikes.tolist(), x.grad.tolist()


@pytest.mark.parametrize("name", sorted(EXPECTED_GRADIENT))
def test_surrogate_gradient_values(name):
    spikes, grad = surrogate_gradient(make_surrogate(name), POINTS)
    assert spikes == [0.0] * 4 + [1.0] * 6  # Heaviside, firing at x >= 0
    assert grad == pytest.approx(EXPECTED_GRADIENT[name], abs=1e-12)


def test_pinned_literals_of_the_smooth_surrogates():
    _, atan = surrogate_gradient(make_surrogate("atan"), [0.0, 0.5])
    _, sig = surrogate_gradient(make_surrogate("sigmoid"), [0.0, 0.5])
    assert atan == pytest.approx([1.0, 0.288400], abs=1e-6)
    assert sig == pytest.approx([1.0, 0.419974], abs=1e-6)


def test_rectangle_equals_piecewise_leaky_relu_with_half_width():
    theirs = surrogate.PiecewiseLeakyReLU(w=0.5, c=0.0)
    assert surrogate_gradient(make_surrogate("rectangle"), POINTS)[1] == pytest.approx(
        surrogate_gradient(theirs, POINTS)[1], abs=1e-12
    )


def test_surrogate_alpha_option():
    # triangle with a = 1: max(0, 1 - |x|)
    _, grad = surrogate_gradient(make_surrogate("triangle", 1.0), [0.0, 0.5, 1.0])
    assert grad == pytest.approx([1.0, 0.5, 0.0])
    # rectangle with a = 2: 2 on |x| < 0.25
    _, grad = surrogate_gradient(make_surrogate("rectangle", 2.0), [0.2, 0.3])
    assert grad == pytest.approx([2.0, 0.0])


@pytest.mark.parametrize("name", sorted(EXPECTED_GRADIENT))
def test_lif_uses_the_configured_surrogate(name):
    # one step from v = 0: H = x / tau, spike = Heaviside(H - 0.5), dspike/dx = g'(x/2 - 0.5) / 2
    lif = make_lif(NeuronConfig(surrogate=name))
    x = torch.tensor([[2 * (p + 0.5) for p in POINTS]], requires_grad=True)
    lif(x).sum().backward()
    expected = [g / 2 for g in EXPECTED_GRADIENT[name]]
    assert x.grad[0].tolist() == pytest.approx(expected, abs=1e-6)


def hand_lif(x_seq: torch.Tensor, config: NeuronConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The decay-input LIF written out step by step: (spikes, post-reset v), both [T, ...]."""
    spike_fn = make_surrogate(config.surrogate, config.alpha)
    v = torch.zeros_like(x_seq[0])
    spikes, potentials = [], []
    for x in x_seq:
        h = v + (x - v) / config.tau
        s = spike_fn(h - config.v_threshold)
        s_reset = s.detach() if config.detach_reset else s
        v = h - s_reset * config.v_threshold if config.v_reset is None else h * (1 - s_reset)
        spikes.append(s)
        potentials.append(v)
    return torch.stack(spikes), torch.stack(potentials)


@pytest.mark.parametrize(
    "config",
    [
        NeuronConfig(),
        NeuronConfig(surrogate="rectangle"),
        NeuronConfig(detach_reset=False, surrogate="atan"),
        NeuronConfig(v_reset=None, tau=3.0, v_threshold=1.0),
    ],
    ids=["paper", "rectangle", "attached-reset", "soft-reset"],
)
def test_stored_v_seq_is_the_post_reset_potential_with_gradients(config):
    gen = torch.Generator().manual_seed(3)
    x = (torch.rand(6, 4, 5, generator=gen) * 4 * config.v_threshold).requires_grad_()
    x_hand = x.detach().clone().requires_grad_()
    lif = make_lif(config, store_v_seq=True)
    spikes = lif(x)
    want_spikes, want_v = hand_lif(x_hand, config)
    assert torch.equal(spikes, want_spikes)
    assert 0.1 < spikes.mean() < 0.9  # the comparison covers fired and silent steps
    torch.testing.assert_close(lif.v_seq, want_v, rtol=0, atol=1e-6)
    weights = torch.randn(want_v.shape, generator=gen)
    (lif.v_seq * weights).sum().backward()
    (want_v * weights).sum().backward()
    torch.testing.assert_close(x.grad, x_hand.grad, rtol=1e-5, atol=1e-6)


def _tap_input(model: torch.nn.Module, tap: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    seen = []
    handle = tap.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach()))
    try:
        model(x)
    finally:
        handle.remove()
    return seen[0]


@pytest.mark.parametrize(
    ("name", "shape"),
    [("tiny", (4, 2, 2, 34, 34)), ("scnn", (4, 2, 2, 28, 28)), ("vggsnn", (2, 1, 2, 48, 48))],
)
def test_model_features_are_the_tap_lifs_post_reset_potential(name, shape):
    torch.manual_seed(0)
    model = create_model(name, 3)
    tap = model.fc1_lif if name == "scnn" else model.features[-1]
    x = (torch.rand(shape) > 0.5).float() * 4.0
    _, features = model(x, return_features=True)
    _, want_v = hand_lif(_tap_input(model, tap, x), NeuronConfig())
    assert features.requires_grad
    assert (want_v == 0).float().mean() < 0.95
    torch.testing.assert_close(features, want_v.flatten(2), rtol=0, atol=1e-5)


def test_resnet_features_are_the_pooled_last_batchnorm_output():
    torch.manual_seed(0)
    model = create_model("resnet18", 3)
    x = (torch.rand(2, 2, 2, 48, 48) > 0.5).float()
    seen = []
    model.bn.register_forward_hook(lambda _m, _a, out: seen.append(out.detach()))
    _, features = model(x, return_features=True)
    assert seen[0].shape == (2, 2, 512, 6, 6)
    torch.testing.assert_close(features, seen[0].mean(dim=(-2, -1)))


def test_auto_backend_on_this_machine_is_spikingjelly():
    assert not torch.cuda.is_available()
    assert resolve_neuron_backend("auto") == "spikingjelly"
    assert type(make_lif(NeuronConfig())) is neuron.LIFNode


def test_cupy_backend_without_the_kernels_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(neurons_module, "_fused_lif_class", lambda: None)
    with pytest.raises(ConfigError, match="neuron_backend='cupy'.*not built yet.*spikingjelly"):
        create_model("tiny", 10, neuron_backend="cupy")
    assert resolve_neuron_backend("spikingjelly") == "spikingjelly"


def test_cupy_backend_uses_the_fused_lif_when_kernels_provide_it(monkeypatch):
    class FakeFusedLIF(torch.nn.Module):
        def __init__(self, **kwargs):
            super().__init__()
            self.kwargs = kwargs

    monkeypatch.setattr(neurons_module, "_fused_lif_class", lambda: FakeFusedLIF)
    monkeypatch.setattr(neurons_module, "_cupy_installed", lambda: True)
    lif = make_lif(NeuronConfig(neuron_backend="cupy", surrogate="rectangle"), store_v_seq=True)
    assert isinstance(lif, FakeFusedLIF)
    assert lif.kwargs == {
        "tau": 2.0,
        "v_threshold": 0.5,
        "v_reset": 0.0,
        "detach_reset": True,
        "store_v_seq": True,
        "surrogate": "rectangle",
        "alpha": 1.0,
    }
    # auto picks it only on CUDA
    assert resolve_neuron_backend("auto") == "spikingjelly"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_neuron_backend("auto") == "cupy"


def test_cupy_backend_without_cupy_names_the_extra(monkeypatch):
    monkeypatch.setattr(neurons_module, "_fused_lif_class", lambda: torch.nn.Identity)
    monkeypatch.setattr(neurons_module, "_cupy_installed", lambda: False)
    with pytest.raises(ConfigError, match=r"needs CuPy.*snn-transfer\[cuda12\]"):
        resolve_neuron_backend("cupy")


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"tau": 1.0}, "tau=1.0 must be greater than 1"),
        ({"tau": "2"}, "tau='2' must be a number"),
        ({"v_threshold": None}, "v_threshold=None must be a number"),
        ({"surrogate": "erf"}, "surrogate='erf'.*triangle, rectangle, atan, sigmoid"),
        ({"surrogate_alpha": 0}, "surrogate_alpha=0 must be greater than 0"),
        ({"neuron_backend": "triton"}, "neuron_backend='triton'.*auto, spikingjelly, cupy"),
        ({"detach_reset": "yes"}, "detach_reset='yes' must be true or false"),
    ],
)
def test_bad_neuron_options_are_config_errors(options, match):
    with pytest.raises(ConfigError, match=match):
        NeuronConfig(**options)
    with pytest.raises(ConfigError, match=match):
        create_model("tiny", 10, **options)


def test_integer_options_become_the_floats_spikingjelly_requires():
    config = NeuronConfig(tau=2, v_threshold=1, v_reset=0)
    assert (config.tau, config.v_threshold, config.v_reset) == (2.0, 1.0, 0.0)
    assert all(isinstance(v, float) for v in (config.tau, config.v_threshold, config.v_reset))
    make_lif(config)  # SpikingJelly asserts float arguments
