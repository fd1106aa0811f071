"""The CuPy launch path (``FusedLIF``, ``bin_events_fused``) without a GPU.

``_cupy.kernel`` and ``_cupy.launch`` are replaced by the CPU build of the same kernels: each
launch calls the harness wrapper of the requested name expression with the argument tuple the
launcher built for CuPy, so the argument order and types, the vector width, the grid and the
autograd plumbing are checked against the kernel signatures.
"""

from __future__ import annotations

import ctypes
import re

import numpy as np
import pytest
import torch

from snn_transfer.kernels import _cupy
from snn_transfer.kernels._cpu_harness import cpu_kernels
from snn_transfer.kernels._source import C_TYPES, FRAMES_KERNEL
from snn_transfer.kernels.frames import THREADS_PER_BLOCK, bin_events_fused
from snn_transfer.kernels.lif import FusedLIF
from snn_transfer.kernels.parameters import LIFParameters
from snn_transfer.kernels.reference import bin_events_reference, lif_multi_step

_DTYPE_OF_C_TYPE = {ctype: name for name, ctype in C_TYPES.items()}


def _wrapper_name(expression: str) -> str:
    if expression == FRAMES_KERNEL:
        return "bin_events"
    match = re.fullmatch(r"snn::(lif_\w+)<([\w]+), (\d+)(?:, (\d+))?>", expression)
    assert match, expression
    kind, ctype, vec, sg = match.groups()
    return "_".join(part for part in (kind, _DTYPE_OF_C_TYPE[ctype], vec, sg) if part)


def _as_ctypes(value):
    conversions = {
        np.uint64: lambda v: ctypes.c_void_p(int(v) or None),
        np.int32: lambda v: ctypes.c_int(int(v)),
        np.int64: lambda v: ctypes.c_longlong(int(v)),
        np.float32: lambda v: ctypes.c_float(float(v)),
    }
    assert type(value) in conversions, f"unexpected kernel argument {value!r}"
    return conversions[type(value)](value)


@pytest.fixture
def launches(monkeypatch):
    try:
        library = cpu_kernels().library
    except RuntimeError as error:
        pytest.skip(f"CPU harness unavailable: {error}")
    seen = []

    def kernel(device, source, names, name):
        assert name in names
        return name

    def launch(device, function, grid, block, args):
        seen.append((function, grid, block))
        args = [_as_ctypes(a) for a in args]
        if function == FRAMES_KERNEL:
            args += [ctypes.c_uint(grid[0]), ctypes.c_uint(grid[1])]
        getattr(library, _wrapper_name(function))(*args)

    monkeypatch.setattr(_cupy, "kernel", kernel)
    monkeypatch.setattr(_cupy, "launch", launch)
    return seen


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize(("n", "wide"), [(64, True), (61, False)])
def test_fused_lif_function_forward_and_backward(launches, dtype, n, wide):
    params = LIFParameters(2.0, 0.5, None, True, False, "sigmoid", 4.0)
    torch.manual_seed(n)
    x = (torch.randn(11, n) + 0.5).to(dtype).requires_grad_()
    v0 = (torch.randn(n) * 0.2).requires_grad_()
    spike, v_last, v_seq = FusedLIF.apply(x, v0, params, True, True)
    want = lif_multi_step(x, v0, params, store_v_seq=True)
    assert torch.equal(spike, want.spike) and torch.equal(v_seq, want.v_seq)
    assert torch.equal(v_last, want.v)
    gs, gv = torch.randn(11, n).to(dtype), torch.randn(11, n).to(dtype)
    got = torch.autograd.grad([spike, v_seq, v_last], [x, v0], [gs, gv, torch.ones(n)])
    ref = torch.autograd.grad([want.spike, want.v_seq, want.v], [x, v0], [gs, gv, torch.ones(n)])
    tol = 1e-5 if dtype == torch.float32 else 1e-2
    for a, b in zip(got, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)
    (forward, grid, block), (backward, _, _) = launches
    vec = 16 // x.element_size() if wide else 1
    assert forward.endswith(f", {vec}>") and backward.endswith(f", {vec}, 3>")
    assert block == (256, 1, 1) and grid[0] * 256 * vec >= n > (grid[0] - 1) * 256 * vec


def test_no_state_for_backward_without_gradients(launches):
    params = LIFParameters(tau=2.0, v_threshold=0.5, surrogate="rectangle", alpha=1.0)
    x = torch.randn(5, 32)
    spike, v_last = FusedLIF.apply(x, torch.zeros(32), params, False, False)
    want = lif_multi_step(x, 0.0, params)
    assert torch.equal(spike, want.spike) and torch.equal(v_last, want.v)
    assert len(launches) == 1


def test_only_some_outputs_carry_gradients(launches):
    params = LIFParameters(2.0, 0.5, 0.0, True, True, "triangle", 2.0)
    x = (torch.randn(7, 40) + 0.4).requires_grad_()
    spike, _, v_seq = FusedLIF.apply(x, torch.zeros(40), params, True, True)
    (got,) = torch.autograd.grad(v_seq.sum(), x)  # the feature tap alone
    want = lif_multi_step(x, 0.0, params, store_v_seq=True)
    (ref,) = torch.autograd.grad(want.v_seq.sum(), x)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)
    assert got.abs().sum() > 0


def test_bin_events_launch_covers_every_frame(launches):
    rng = np.random.default_rng(0)
    x, y, p = (torch.from_numpy(rng.integers(0, hi, 3000)) for hi in (30, 20, 2))
    starts = torch.tensor([0, 100, 100, 2999, 3000])
    ends = torch.tensor([700, 2900, 100, 3000, 3000])
    got = bin_events_fused(x, y, p, starts, ends, (30, 20, 2))
    assert torch.equal(got, bin_events_reference(x, y, p, starts, ends, (30, 20, 2)))
    ((_, grid, block),) = launches
    assert grid[:2] == (-(-2800 // THREADS_PER_BLOCK), 5) and block == (THREADS_PER_BLOCK, 1, 1)
