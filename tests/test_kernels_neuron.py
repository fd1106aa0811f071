"""The torch reference against SpikingJelly 2.0's LIFNode, and FusedLIFNode on the CPU path."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys

import pytest
import torch
from spikingjelly.activation_based import functional, layer, neuron, surrogate
from torch import nn

from snn_transfer.kernels import FusedLIFNode, LIFParameters, lif_multi_step
from snn_transfer.kernels.neuron import surrogate_from_spikingjelly
from snn_transfer.kernels.reference import lif_multi_step as reference
from snn_transfer.kernels.reference import surrogate_gradient

SJ_SURROGATE = {
    "triangle": surrogate.PiecewiseQuadratic,
    "rectangle": surrogate.Rect,
    "atan": surrogate.ATan,
    "sigmoid": surrogate.Sigmoid,
}
OPTIONS = list(itertools.product(SJ_SURROGATE, (True, False), (0.0, -0.2, None), (True, False)))


@pytest.mark.parametrize(("name", "decay_input", "v_reset", "detach_reset"), OPTIONS)
def test_reference_is_spikingjellys_lifnode(name, decay_input, v_reset, detach_reset):
    torch.manual_seed(OPTIONS.index((name, decay_input, v_reset, detach_reset)))
    kwargs = {"tau": 2.3, "decay_input": decay_input, "v_threshold": 0.6, "v_reset": v_reset}
    kwargs["detach_reset"] = detach_reset
    sj = neuron.LIFNode(
        surrogate_function=SJ_SURROGATE[name](alpha=1.7), step_mode="m", store_v_seq=True, **kwargs
    )
    x = (torch.randn(9, 4, 16) + 0.3).requires_grad_()
    gs, gv = torch.randn(9, 4, 16), torch.randn(9, 4, 16)
    spikes = sj(x)
    (want,) = torch.autograd.grad([spikes, sj.v_seq], [x], [gs, gv])
    params = LIFParameters(surrogate=name, alpha=1.7, **kwargs)
    out = reference(x, 0.0 if v_reset is None else v_reset, params, store_v_seq=True)
    (got,) = torch.autograd.grad([out.spike, out.v_seq], [x], [gs, gv])
    assert torch.equal(out.spike, spikes) and 0.05 < spikes.mean() < 0.6
    assert torch.equal(out.v_seq, sj.v_seq) and torch.equal(out.v, sj.v)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("name", "alpha", "points", "values"),
    [
        ("triangle", 2.0, [0.0, 0.25, -0.4, 0.5, 0.7], [2.0, 1.0, 0.4, 0.0, 0.0]),
        ("rectangle", 1.0, [0.0, 0.49, -0.49, 0.5, -0.6], [1.0, 1.0, 1.0, 0.0, 0.0]),
        ("rectangle", 2.0, [0.0, 0.24, 0.25], [2.0, 2.0, 0.0]),
        ("atan", 2.0, [0.0, 1.0 / math.pi], [1.0, 0.5]),
        ("sigmoid", 4.0, [0.0], [1.0]),
    ],
)
def test_surrogate_gradients_have_their_documented_values(name, alpha, points, values):
    got = surrogate_gradient(torch.tensor(points, dtype=torch.float64), name, alpha)
    assert got.tolist() == pytest.approx(values)


@pytest.mark.parametrize("name", list(SJ_SURROGATE))
def test_surrogate_gradients_integrate_to_one(name):
    u = torch.linspace(-40, 40, 160_001, dtype=torch.float64)
    area = torch.trapezoid(surrogate_gradient(u, name, 1.5), u)
    assert area.item() == pytest.approx(1.0, abs=1e-2)  # atan: tails past 40 hold 0.7 %


def test_spikingjelly_surrogate_objects_map_to_names():
    assert surrogate_from_spikingjelly(surrogate.PiecewiseQuadratic(alpha=2.0)) == ("triangle", 2.0)
    assert surrogate_from_spikingjelly(surrogate.Rect()) == ("rectangle", 1.0)
    assert surrogate_from_spikingjelly(surrogate.ATan()) == ("atan", 2.0)
    assert surrogate_from_spikingjelly(surrogate.Sigmoid()) == ("sigmoid", 4.0)
    # the N-Omniglot rectangle: gradient 1 on |u| < 0.5
    leaky = surrogate.PiecewiseLeakyReLU(w=0.5, c=0.0)
    assert surrogate_from_spikingjelly(leaky) == ("rectangle", 1.0)
    with pytest.raises(ValueError, match="PiecewiseLeakyReLU has no fused kernel"):
        surrogate_from_spikingjelly(surrogate.PiecewiseLeakyReLU(w=0.5, c=0.01))
    with pytest.raises(ValueError, match="Erf has no fused kernel.*triangle, rectangle"):
        surrogate_from_spikingjelly(surrogate.Erf())
    with pytest.raises(ValueError, match="spiking=False"):
        surrogate_from_spikingjelly(surrogate.ATan(spiking=False))


def test_constructor_takes_lifnodes_arguments_and_the_models_keywords():
    node = FusedLIFNode(2.0, True, 0.5, None, surrogate.ATan(alpha=3.0), True, "m", True)
    assert (node.tau, node.v_threshold, node.v_reset, node.detach_reset) == (2.0, 0.5, None, True)
    assert (node.surrogate, node.alpha, node.store_v_seq, node.step_mode) == (
        "atan",
        3.0,
        True,
        "m",
    )
    models_kwargs = {"tau": 2, "v_threshold": 0.5, "v_reset": 0, "detach_reset": True}
    node = FusedLIFNode(**models_kwargs, store_v_seq=True, surrogate="rectangle", alpha=1.0)
    assert node.lif_parameters == LIFParameters(2.0, 0.5, 0.0, True, True, "rectangle", 1.0)
    assert FusedLIFNode(surrogate_function="triangle").alpha == 1.0  # SpikingJelly's default
    assert FusedLIFNode().surrogate == "sigmoid" and FusedLIFNode().alpha == 4.0
    assert "rectangle(alpha=1.0)" in repr(FusedLIFNode(surrogate="rectangle"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tau": 1.0}, "tau=1.0 must be greater than 1"),
        ({"v_threshold": "1"}, "v_threshold='1' must be a number"),
        ({"surrogate": "erf"}, "surrogate='erf' is not supported"),
        ({"surrogate": "atan", "alpha": 0.0}, "alpha=0.0 must be greater than 0"),
        ({"surrogate": "atan", "surrogate_function": surrogate.ATan()}, "not both"),
        ({"surrogate_function": surrogate.ATan(), "alpha": 2.0}, "has its own"),
        ({"backend": "triton"}, "backend='triton' is not supported"),
        ({"detach_reset": 1}, "detach_reset=1 must be True or False"),
    ],
)
def test_bad_arguments_are_value_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FusedLIFNode(**kwargs)


def _net(lif: nn.Module) -> nn.Sequential:
    torch.manual_seed(0)
    net = nn.Sequential(
        layer.Conv2d(2, 8, 3, padding=1), lif, layer.Flatten(), layer.Linear(8 * 6 * 6, 3)
    )
    functional.set_step_mode(net, "m")
    return net


def test_in_a_spikingjelly_network_it_equals_lifnode_and_reset_net_resets_it():
    kwargs = {"tau": 2.0, "v_threshold": 0.5, "v_reset": 0.0, "detach_reset": True}
    ours = _net(FusedLIFNode(surrogate="triangle", alpha=2.0, store_v_seq=True, **kwargs))
    theirs = _net(
        neuron.LIFNode(
            surrogate_function=surrogate.PiecewiseQuadratic(alpha=2.0), store_v_seq=True, **kwargs
        )
    )
    x = torch.rand(4, 3, 2, 6, 6) * 2
    for _ in range(2):  # the second pass starts from the state reset_net left
        losses = []
        for net in (ours, theirs):
            out = net(x)
            v_seq = net[1].v_seq
            # a loss on the post-reset potential (a feature tap) reaches the conv weights
            loss = out.square().mean() + v_seq.square().mean()
            net.zero_grad()
            loss.backward()
            losses.append((loss.item(), net[0].weight.grad.clone(), v_seq.detach()))
            functional.reset_net(net)
            assert net[1].v == 0.0 and net[1].v_seq is None
        assert losses[0][0] == pytest.approx(losses[1][0], rel=1e-6)
        assert torch.equal(losses[0][2], losses[1][2])
        torch.testing.assert_close(losses[0][1], losses[1][1], rtol=1e-5, atol=1e-6)
        assert losses[0][1].abs().sum() > 0


def test_it_is_a_lifnode_that_spikingjellys_monitors_see():
    from spikingjelly.activation_based import monitor

    node = FusedLIFNode(surrogate="triangle", alpha=2.0, v_threshold=0.5, store_v_seq=True)
    assert isinstance(node, neuron.LIFNode) and isinstance(node, neuron.BaseNode)
    assert isinstance(node.surrogate_function, surrogate.PiecewiseQuadratic)
    assert node.surrogate_function.alpha == 2.0
    net = _net(node)
    spikes = monitor.OutputMonitor(
        net, neuron.LIFNode, function_on_output=lambda s: s.mean().item()
    )
    potentials = monitor.AttributeMonitor(
        "v_seq", pre_forward=False, net=net, instance=neuron.LIFNode
    )
    x = torch.rand(4, 3, 2, 6, 6) * 2
    for _ in range(2):
        net(x)
        functional.reset_net(net)
    assert spikes.monitored_layers == ["1"] == potentials.monitored_layers
    assert len(spikes.records) == 2 and 0.0 < spikes.records[0] < 1.0
    assert potentials.records[0].shape == (4, 3, 8, 6, 6)
    spikes.remove_hooks()
    potentials.remove_hooks()


def test_state_carries_over_calls_with_gradient_and_resets_on_a_new_shape():
    params = {"tau": 2.0, "v_threshold": 0.5, "surrogate": "atan"}
    node = FusedLIFNode(**params)
    x = torch.randn(6, 5, requires_grad=True)
    first, second = node(x[:3]), node(x[3:])
    whole = lif_multi_step(x, 0.0, node.lif_parameters)
    assert torch.equal(torch.cat([first, second]), whole.spike)
    (got,) = torch.autograd.grad(second.sum() + node.v.sum(), x)
    (want,) = torch.autograd.grad(whole.spike[3:].sum() + whole.v.sum(), x)
    torch.testing.assert_close(got, want)
    assert got[:3].abs().sum() > 0  # through the state handed from the first call
    node(torch.randn(2, 7))  # another batch shape: starts again from v_reset
    assert node.v.shape == (7,)


def test_single_step_mode_equals_multi_step_and_appends_v_seq():
    x = torch.randn(5, 3, 4)
    multi = FusedLIFNode(v_threshold=0.3, store_v_seq=True)
    single = FusedLIFNode(v_threshold=0.3, store_v_seq=True, step_mode="s")
    spikes = torch.stack([single(step) for step in x])
    assert torch.equal(spikes, multi(x))
    assert torch.equal(single.v_seq, multi.v_seq) and single.v_seq.shape == (5, 3, 4)


def test_low_precision_input_keeps_a_float32_state():
    x = torch.randn(8, 32).bfloat16()
    out = lif_multi_step(x, 0.0, LIFParameters(v_threshold=0.4), store_v_seq=True)
    want = reference(x.float(), 0.0, LIFParameters(v_threshold=0.4), store_v_seq=True)
    assert out.spike.dtype == out.v_seq.dtype == torch.bfloat16 and out.v.dtype == torch.float32
    assert torch.equal(out.spike.float(), want.spike)
    assert torch.equal(out.v, want.v)
    assert torch.equal(out.v_seq, want.v_seq.bfloat16())


def test_cpu_tensors_cannot_take_the_cupy_backend():
    with pytest.raises(ValueError, match="backend='cupy' needs a CUDA tensor"):
        lif_multi_step(torch.randn(2, 3), 0.0, LIFParameters(), backend="cupy")
    with pytest.raises(ValueError, match=r"x_seq must be \[T, N, ...\]"):
        lif_multi_step(torch.randn(3), 0.0, LIFParameters())


def test_kernels_import_neither_tonic_nor_the_events_package():
    code = (
        "import sys, snn_transfer.kernels as k; k.FusedLIFNode; k.bin_events; k.lif_multi_step;"
        "bad = [m for m in sys.modules if m.startswith(('tonic', 'snn_transfer.events', 'cupy'))];"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_copies_and_pickles_like_a_spikingjelly_neuron():
    import copy
    import pickle

    node = FusedLIFNode(tau=3.0, v_reset=None, surrogate="rectangle", alpha=1.0)
    node(torch.randn(3, 4))
    for clone in (copy.deepcopy(node), pickle.loads(pickle.dumps(node))):
        assert clone.lif_parameters == node.lif_parameters
        assert torch.equal(clone.v, node.v)
    assert node.state_dict() == {}  # the state is a memory, not a buffer
