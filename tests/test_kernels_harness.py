"""The CUDA LIF kernels, compiled for the CPU from the same source, against the torch reference.

Every option combination (charge form, hard/hard-nonzero/soft reset, detach_reset, surrogate)
in every dtype: spikes and v bit for bit, gradients within 1e-5 (float32).
"""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from snn_transfer.kernels._cpu_harness import cpu_kernels
from snn_transfer.kernels.parameters import LIFParameters
from snn_transfer.kernels.reference import lif_multi_step
from snn_transfer.kernels.surrogates import SURROGATES

DTYPES = (torch.float32, torch.float16, torch.bfloat16)
RESETS = (0.0, -0.25, None)  # hard to 0, hard to a non-zero value, soft
OPTIONS = list(itertools.product((True, False), RESETS, (True, False), SURROGATES))
GRAD_TOL = {torch.float32: (1e-5, 1e-5), torch.float16: (2e-3, 1e-3), torch.bfloat16: (1e-2, 8e-3)}


@pytest.fixture(scope="module")
def kernels():
    try:
        return cpu_kernels()
    except RuntimeError as error:
        pytest.skip(f"CPU harness unavailable: {error}")


def _case(seed: int, steps: int, n: int, dtype: torch.dtype, params: LIFParameters):
    gen = torch.Generator().manual_seed(seed)
    # inputs spread around the threshold so that every surrogate's support is hit
    x = (torch.randn(steps, n, generator=gen) * 0.8 + params.v_threshold).to(dtype)
    v0 = torch.randn(n, generator=gen) * 0.3
    grads = [torch.randn(steps, n, generator=gen).to(dtype) for _ in range(2)]
    return x, v0, grads[0], grads[1], torch.randn(n, generator=gen)


def _reference(x, v0, gs, gvs, gvl, params, store_v_seq=True):
    x = x.clone().requires_grad_()
    v0 = v0.clone().requires_grad_()
    out = lif_multi_step(x, v0, params, store_v_seq=store_v_seq)
    outputs, grads = [out.spike, out.v], [gs, gvl]
    if store_v_seq:
        outputs.append(out.v_seq)
        grads.append(gvs)
    torch.autograd.backward(outputs, grads)
    return out, x.grad, v0.grad


def _compare(kernels, x, v0, gs, gvs, gvl, params, store_v_seq=True, vec=None):
    want, want_gx, want_gv = _reference(x, v0, gs, gvs, gvl, params, store_v_seq)
    spike, v_seq, h_seq, v_last = kernels.lif_forward(
        x, v0, params, store_v_seq=store_v_seq, vec=vec
    )
    gx, gv = kernels.lif_backward(
        gs, gvs if store_v_seq else None, gvl, h_seq, params, dtype=x.dtype, vec=vec
    )
    assert torch.equal(spike, want.spike)
    assert torch.equal(v_last, want.v)
    if store_v_seq:
        assert torch.equal(v_seq, want.v_seq)
    else:
        assert v_seq is None
    rtol, atol = GRAD_TOL[x.dtype]
    torch.testing.assert_close(gx, want_gx, rtol=rtol, atol=atol)
    torch.testing.assert_close(
        gv, want_gv, rtol=1e-5 if x.dtype == torch.float32 else rtol, atol=atol
    )
    return spike


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(("decay_input", "v_reset", "detach_reset", "surrogate"), OPTIONS)
def test_every_option_combination_matches_the_reference(
    kernels, dtype, decay_input, v_reset, detach_reset, surrogate
):
    index = OPTIONS.index((decay_input, v_reset, detach_reset, surrogate))
    steps = 1 + (index * 7 + DTYPES.index(dtype) * 11) % 32  # T from 1 to 32 across the cases
    n = 8 * (3 + index % 5) + (index % 3)  # both the vectorised and the scalar kernels
    params = LIFParameters(
        tau=2.0 + 0.35 * (index % 4),
        v_threshold=0.5 + 0.25 * (index % 3),
        v_reset=v_reset,
        decay_input=decay_input,
        detach_reset=detach_reset,
        surrogate=surrogate,
        alpha=1.0 + 0.5 * (index % 4),
    )
    spike = _compare(kernels, *_case(index, steps, n, dtype, params), params)
    if steps > 4:  # the case exercises firing and silence alike
        assert 0.02 < spike.float().mean() < 0.9


@settings(max_examples=25, deadline=None)
@given(
    steps=st.integers(1, 32),
    n=st.integers(1, 70),
    option=st.sampled_from(OPTIONS),
    dtype=st.sampled_from(DTYPES),
    tau=st.floats(1.05, 8.0),
    threshold=st.floats(-0.5, 2.0),
    alpha=st.floats(0.3, 6.0),
    seed=st.integers(0, 2**31),
)
def test_random_shapes_and_constants_match_the_reference(
    kernels, steps, n, option, dtype, tau, threshold, alpha, seed
):
    decay_input, v_reset, detach_reset, surrogate = option
    params = LIFParameters(tau, threshold, v_reset, decay_input, detach_reset, surrogate, alpha)
    _compare(kernels, *_case(seed, steps, n, dtype, params), params)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_vectorised_and_scalar_kernels_agree_exactly(kernels, dtype):
    params = LIFParameters(tau=2.0, v_threshold=0.5, surrogate="atan", alpha=2.0)
    x, v0, gs, gvs, gvl = _case(3, 12, 64, dtype, params)
    wide = kernels.lif_forward(x, v0, params)
    narrow = kernels.lif_forward(x, v0, params, vec=1)
    for a, b in zip(wide, narrow, strict=True):
        assert torch.equal(a, b)
    grads_wide = kernels.lif_backward(gs, gvs, gvl, wide[2], params, dtype=dtype)
    grads_narrow = kernels.lif_backward(gs, gvs, gvl, wide[2], params, dtype=dtype, vec=1)
    for a, b in zip(grads_wide, grads_narrow, strict=True):
        assert torch.equal(a, b)


def test_without_v_seq_and_without_some_gradients(kernels):
    params = LIFParameters(tau=2.0, v_threshold=0.5, detach_reset=True, surrogate="triangle")
    x, v0, gs, _, gvl = _case(5, 10, 48, torch.float32, params)
    _compare(kernels, x, v0, gs, None, gvl, params, store_v_seq=False)
    spike, v_seq, h_seq, v_last = kernels.lif_forward(x, v0, params, store_v_seq=False)
    assert v_seq is None
    # only the spikes carry a gradient: the null pointers for v_seq and v_last read as zero
    gx, gv = kernels.lif_backward(gs, None, None, h_seq, params)
    x_ref = x.clone().requires_grad_()
    v_ref = v0.clone().requires_grad_()
    out = lif_multi_step(x_ref, v_ref, params)
    out.spike.backward(gs)
    torch.testing.assert_close(gx, x_ref.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gv, v_ref.grad, rtol=1e-5, atol=1e-5)
    # no gradient for the initial state: nothing written, no crash
    assert kernels.lif_backward(gs, None, None, h_seq, params, want_v_init=False)[1] is None


def test_paper_neuron_on_a_hand_computed_sequence(kernels):
    # tau 2, threshold 0.5, hard reset to 0, decay input: h = v + (x - v) / 2
    params = LIFParameters(2.0, 0.5, 0.0, True, True, "triangle", 2.0)
    x = torch.tensor([[0.6], [0.6], [2.0], [0.0]])
    spike, v_seq, h_seq, v_last = kernels.lif_forward(x, torch.zeros(1), params)
    assert h_seq.flatten().tolist() == pytest.approx([0.3, 0.45, 1.225, 0.0])
    assert spike.flatten().tolist() == [0.0, 0.0, 1.0, 0.0]
    assert v_seq.flatten().tolist() == pytest.approx([0.3, 0.45, 0.0, 0.0])
    assert v_last.item() == 0.0
    # triangle surrogate max(0, 2 - 4|h - 0.5|): 1.2 at h = 0.3, 0 at h = 1.225
    gs = torch.tensor([[1.0], [0.0], [0.0], [0.0]])
    gx, _ = kernels.lif_backward(gs, None, None, h_seq, params)
    assert gx.flatten().tolist() == pytest.approx([0.6, 0.0, 0.0, 0.0])


def test_a_potential_equal_to_the_threshold_fires_as_in_spikingjelly(kernels):
    params = LIFParameters(2.0, 0.5, 0.0, True, True, "rectangle", 1.0)
    x = torch.tensor([[1.0, 0.99999994, 1.0000001]])  # h = 0.5 exactly, just below, just above
    spike, _, h_seq, _ = kernels.lif_forward(x, torch.zeros(3), params, vec=1)
    assert h_seq[0, 0].item() == 0.5 and h_seq[0, 1].item() < 0.5 < h_seq[0, 2].item()
    assert spike.flatten().tolist() == [1.0, 0.0, 1.0]
    assert torch.equal(spike, lif_multi_step(x, 0.0, params).spike)
