"""The CuPy-launched kernels on a GPU: against the torch reference and SpikingJelly 2.0's LIFNode.

Marked ``cuda``; skipped without an NVIDIA GPU or without CuPy. ``scripts/gpu_check.sh`` runs
them with the kernel benchmark.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.cuda

if not torch.cuda.is_available():
    pytest.skip("no CUDA GPU visible to torch", allow_module_level=True)
pytest.importorskip("cupy", reason="CuPy not installed (pip install snn-transfer[cuda13])")

from spikingjelly.activation_based import functional, layer, neuron, surrogate  # noqa: E402
from torch import nn  # noqa: E402

from snn_transfer.kernels import FusedLIFNode, LIFParameters, bin_events  # noqa: E402
from snn_transfer.kernels.lif import lif_multi_step  # noqa: E402
from snn_transfer.kernels.reference import lif_multi_step as reference  # noqa: E402

CUDA = torch.device("cuda")
DTYPES = (torch.float32, torch.float16, torch.bfloat16)
OPTIONS = list(itertools.product((True, False), (0.0, -0.25, None), (True, False)))
SURROGATES = ("triangle", "rectangle", "atan", "sigmoid")
SJ = {
    "triangle": surrogate.PiecewiseQuadratic,
    "rectangle": surrogate.Rect,
    "atan": surrogate.ATan,
    "sigmoid": surrogate.Sigmoid,
}
GRAD_TOL = {torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1e-2}


def _inputs(seed, steps, n, dtype, threshold=0.5):
    gen = torch.Generator().manual_seed(seed)
    x = (torch.randn(steps, n, generator=gen) * 0.8 + threshold).to(dtype)
    grads = [torch.randn(steps, n, generator=gen).to(dtype) for _ in range(2)]
    return x, grads[0], grads[1], torch.randn(n, generator=gen) * 0.3


def _run(fn, x, gs, gv, v0, params):
    x = x.clone().requires_grad_()
    v0 = v0.clone().requires_grad_()
    out = fn(x, v0, params, store_v_seq=True)
    gx, gv0 = torch.autograd.grad([out.spike, out.v_seq], [x, v0], [gs, gv])
    return out, gx, gv0


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("surrogate_name", SURROGATES)
def test_fused_equals_the_reference_for_every_option(dtype, surrogate_name):
    for index, (decay_input, v_reset, detach_reset) in enumerate(OPTIONS):
        steps, n = 1 + (index * 5) % 32, 4096 + 8 * index + (index % 2)  # wide and scalar kernels
        params = LIFParameters(2.0 + 0.3 * index, 0.5, v_reset, decay_input, detach_reset)
        params = params._replace(surrogate=surrogate_name, alpha=1.0 + 0.25 * index)
        x, gs, gv, v0 = _inputs(index, steps, n, dtype)
        want, want_gx, want_gv0 = _run(reference, x, gs, gv, v0, params)
        cuda = [t.to(CUDA) for t in (x, gs, gv, v0)]
        got, gx, gv0 = _run(lif_multi_step, *cuda, params)
        assert torch.equal(got.spike.cpu(), want.spike), params
        assert torch.equal(got.v_seq.cpu(), want.v_seq) and torch.equal(got.v.cpu(), want.v)
        tol = GRAD_TOL[dtype]
        torch.testing.assert_close(gx.cpu(), want_gx, rtol=tol, atol=tol)
        torch.testing.assert_close(gv0.cpu(), want_gv0, rtol=max(tol, 1e-5), atol=tol)


def _agreeing_neurons(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Neurons whose spike trains agree ([N] bool); a division rounded differently elsewhere
    can move h across the threshold by one ulp, which changes the rest of that neuron's train."""
    same = (a == b).all(dim=0)
    assert same.float().mean() > 0.999, f"{(~same).sum()} of {same.numel()} spike trains differ"
    return same


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("surrogate_name", SURROGATES)
@pytest.mark.parametrize("v_reset", [0.0, None])
def test_fused_matches_spikingjellys_lifnode_on_cuda(dtype, surrogate_name, v_reset):
    kwargs = {"tau": 2.0, "v_threshold": 0.5, "v_reset": v_reset, "detach_reset": True}
    sj_node = neuron.LIFNode(
        surrogate_function=SJ[surrogate_name](alpha=2.0), step_mode="m", store_v_seq=True, **kwargs
    )
    ours = FusedLIFNode(surrogate=surrogate_name, alpha=2.0, store_v_seq=True, **kwargs)
    ours.backend = "cupy"
    x, gs, gv, _ = (t.to(CUDA) for t in _inputs(7, 10, 64 * 48 * 48, dtype))
    # SpikingJelly keeps its state in the input dtype: give it float32, the precision ours keeps
    x_sj = x.float().requires_grad_()
    spikes_sj = sj_node(x_sj)
    (gx_sj,) = torch.autograd.grad([spikes_sj, sj_node.v_seq], [x_sj], [gs.float(), gv.float()])
    x_ours = x.clone().requires_grad_()
    spikes = ours(x_ours)
    (gx,) = torch.autograd.grad([spikes, ours.v_seq], [x_ours], [gs, gv])
    same = _agreeing_neurons(spikes.float(), spikes_sj)
    tol = GRAD_TOL[dtype] if dtype != torch.float32 else 1e-4
    v_sj = sj_node.v_seq.to(dtype).float()
    torch.testing.assert_close(ours.v_seq.float()[:, same], v_sj[:, same], rtol=tol, atol=tol)
    torch.testing.assert_close(gx.float()[:, same], gx_sj[:, same], rtol=tol, atol=tol)
    assert 0.02 < spikes.float().mean() < 0.8


def test_in_a_network_on_cuda_under_autocast():
    torch.manual_seed(0)
    kwargs = {"tau": 2.0, "v_threshold": 0.5, "v_reset": 0.0, "detach_reset": True}
    lifs = [
        FusedLIFNode(surrogate="triangle", alpha=2.0, store_v_seq=True, **kwargs),
        neuron.LIFNode(
            surrogate_function=surrogate.PiecewiseQuadratic(alpha=2.0), store_v_seq=True, **kwargs
        ),
    ]
    nets = []
    for lif in lifs:
        torch.manual_seed(0)
        net = nn.Sequential(layer.Conv2d(2, 16, 3, padding=1), lif, layer.Flatten())
        functional.set_step_mode(net, "m")
        nets.append(net.to(CUDA))
    x = torch.rand(6, 8, 2, 24, 24, device=CUDA) * 2
    results = []
    for net in nets:
        out = net(x)
        loss = out.mean() + net[1].v_seq.square().mean()
        loss.backward()
        results.append((out, net[0].weight.grad))
        functional.reset_net(net)
    same = _agreeing_neurons(results[0][0].flatten(1), results[1][0].flatten(1))
    if same.all():
        torch.testing.assert_close(results[0][1], results[1][1], rtol=1e-4, atol=1e-5)
    else:  # a train that flips changes every weight gradient a little
        error = (results[0][1] - results[1][1]).norm() / results[1][1].norm()
        assert error < 1e-2
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = nets[0](x)
        assert out.dtype == torch.bfloat16 and nets[0][1].v.dtype == torch.float32
        out.float().mean().backward()


def test_side_streams_and_non_contiguous_input():
    params = LIFParameters(2.0, 0.5, 0.0, True, True, "atan", 2.0)
    x = torch.randn(1000, 12, device=CUDA).t()  # [T=12, N=1000], not contiguous
    want = lif_multi_step(x.contiguous(), 0.0, params, store_v_seq=True)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        got = lif_multi_step(x, 0.0, params, store_v_seq=True)
    torch.cuda.current_stream().wait_stream(stream)
    assert torch.equal(got.spike, want.spike) and torch.equal(got.v_seq, want.v_seq)


def test_offsets_past_two_to_the_31():
    free, _ = torch.cuda.mem_get_info()
    if free < 40 * 2**30:
        pytest.skip("needs 40 GiB of free GPU memory")
    steps, period, n = 9, 1024, 2**28  # T * N = 2.4e9 elements > 2^31
    params = LIFParameters(2.0, 0.5, 0.0, True, False, "sigmoid", 4.0)
    pattern = torch.randn(steps, period, device=CUDA, dtype=torch.bfloat16) + 0.5
    x = pattern.repeat(1, n // period).requires_grad_()
    out = lif_multi_step(x, 0.0, params, store_v_seq=True)
    want = lif_multi_step(pattern.float(), 0.0, params, store_v_seq=True, backend="torch")
    assert torch.equal(out.spike[:, -period:].float(), want.spike)
    assert torch.equal(out.v_seq[:, -period:], want.v_seq.bfloat16())
    (gx,) = torch.autograd.grad(out.v_seq, x, torch.ones_like(out.v_seq))
    assert torch.equal(gx[:, :period], gx[:, -period:])


def test_bin_events_on_cuda_equals_the_cpu_framing():
    from snn_transfer.events.core import make_events
    from snn_transfer.events.framing import ToFrame, frame_bounds, to_frame

    rng = np.random.default_rng(0)
    n = 200_000
    events = make_events(
        rng.integers(0, 240, n),
        rng.integers(0, 180, n),
        np.sort(rng.integers(0, 10**6, n)),
        rng.integers(0, 2, n),
    )
    coords = [torch.from_numpy(events[f].astype(np.int64)).to(CUDA) for f in ("x", "y", "p")]
    for options in ({"n_time_bins": 10}, {"n_event_bins": 10, "overlap": 0.5}):
        spec = ToFrame(sensor_size=(240, 180, 2), **options)
        starts, ends = frame_bounds(events["t"], spec)
        got = bin_events(*coords, starts, ends, spec.sensor_size, backend="cupy")
        assert torch.equal(got.cpu(), torch.from_numpy(to_frame(events, spec)))
