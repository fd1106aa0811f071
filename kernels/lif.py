"""The fused LIF neuron as a torch autograd function, and the choice between it and torch.

``lif_multi_step(x_seq, v, params)`` is the entry point: on CUDA tensors with CuPy installed it
runs ``FusedLIF`` (the kernels of ``lif.cu``: one forward and one backward launch for all T
steps), elsewhere the torch reference. Both return ``LIFOutput(spike, v, v_seq)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from snn_transfer.kernels import _cupy
from snn_transfer.kernels._source import (
    LIF_SOURCE,
    VECTOR_WIDTH,
    lif_backward_name,
    lif_forward_name,
    lif_name_expressions,
)
from snn_transfer.kernels.parameters import (
    LIFParameters,
    checked,
    kernel_flags,
    surrogate_constants,
)
from snn_transfer.kernels.reference import LIFOutput
from snn_transfer.kernels.reference import lif_multi_step as lif_multi_step_reference

BACKENDS: tuple[str, ...] = ("auto", "cupy", "torch")
THREADS_PER_BLOCK = 256
_DTYPE_NAMES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}


def dtype_name(dtype: torch.dtype) -> str:
    """``'float32'``, ``'float16'`` or ``'bfloat16'``; TypeError for other dtypes."""
    if dtype not in _DTYPE_NAMES:
        raise TypeError(f"the LIF kernels take float32, float16 or bfloat16 input, not {dtype}")
    return _DTYPE_NAMES[dtype]


def vector_width(n: int, dtype: torch.dtype, tensors: list[torch.Tensor | None]) -> int:
    """Neurons per thread: the 16-byte width when ``n`` and every address allow it, else 1."""
    width = VECTOR_WIDTH[dtype_name(dtype)]
    aligned = all(t is None or t.data_ptr() % (4 * width) == 0 for t in tensors)
    return width if n % width == 0 and aligned else 1


def launch_scalars(params: LIFParameters) -> tuple[Any, ...]:
    """``tau, v_threshold, v_reset`` and the surrogate's ``a, b`` as float32 kernel arguments."""
    a, b = surrogate_constants(params.surrogate, params.alpha)
    reset = 0.0 if params.v_reset is None else params.v_reset
    return tuple(np.float32(value) for value in (params.tau, params.v_threshold, reset, a, b))


def _grid(n: int, vec: int) -> tuple[int, int, int]:
    threads = -(-n // vec)
    return (-(-threads // THREADS_PER_BLOCK), 1, 1)


class FusedLIF(torch.autograd.Function):
    """LIF over T steps with the CUDA kernels of ``lif.cu``, launched through CuPy.

    ``forward(x_seq [T, N], v [N] float32, params, store_v_seq, needs_grad)`` returns
    ``spike [T, N]``, ``v_last [N]`` float32 and, with ``store_v_seq``, ``v_seq [T, N]``
    (post-reset, input dtype), all from one kernel launch. The backward (one launch) takes
    gradients of all of them, so losses on ``v_seq`` (feature taps) reach the input. The
    pre-spike potential is kept in float32 for the backward only when ``needs_grad``.
    """

    @staticmethod
    def forward(
        ctx: Any,
        x_seq: torch.Tensor,
        v: torch.Tensor,
        params: LIFParameters,
        store_v_seq: bool,
        needs_grad: bool,
    ) -> tuple[torch.Tensor, ...]:
        steps, n = x_seq.shape
        x_seq = x_seq.contiguous()
        v = v.contiguous()
        spike = torch.empty_like(x_seq)
        v_seq = torch.empty_like(x_seq) if store_v_seq else None
        h_seq = torch.empty(steps, n, dtype=torch.float32, device=x_seq.device)
        h_seq = h_seq if needs_grad else None
        v_last = torch.empty(n, dtype=torch.float32, device=x_seq.device)
        dtype = dtype_name(x_seq.dtype)
        vec = vector_width(n, x_seq.dtype, [x_seq, v, spike, v_seq, h_seq, v_last])
        function = _cupy.kernel(
            x_seq.device, LIF_SOURCE, lif_name_expressions(dtype), lif_forward_name(dtype, vec)
        )
        tau, threshold, reset, _, _ = launch_scalars(params)
        p = _cupy.pointer
        args = (p(x_seq), p(v), p(spike), p(v_seq), p(h_seq), p(v_last), np.int32(steps))
        args += (np.int64(n), tau, threshold, reset, np.int32(kernel_flags(params)))
        _cupy.launch(x_seq.device, function, _grid(n, vec), (THREADS_PER_BLOCK, 1, 1), args)
        ctx.params, ctx.store_v_seq, ctx.dtype = params, store_v_seq, x_seq.dtype
        if needs_grad:
            ctx.save_for_backward(h_seq)
        ctx.set_materialize_grads(False)
        return (spike, v_last) + ((v_seq,) if store_v_seq else ())

    @staticmethod
    @once_differentiable
    def backward(
        ctx: Any,
        grad_spike: torch.Tensor | None,
        grad_v_last: torch.Tensor | None,
        *rest: torch.Tensor | None,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, None, None, None]:
        (h_seq,) = ctx.saved_tensors
        steps, n = h_seq.shape
        dtype = ctx.dtype
        grad_v_seq = rest[0] if ctx.store_v_seq else None
        grad_spike, grad_v_seq = (
            None if g is None else g.to(dtype).contiguous() for g in (grad_spike, grad_v_seq)
        )
        if grad_v_last is not None:
            grad_v_last = grad_v_last.float().contiguous()
        grad_x = torch.empty(steps, n, dtype=dtype, device=h_seq.device)
        wants_v = ctx.needs_input_grad[1]
        grad_v = torch.empty(n, dtype=torch.float32, device=h_seq.device) if wants_v else None
        tensors = [grad_spike, grad_v_seq, grad_v_last, h_seq, grad_x, grad_v]
        vec = vector_width(n, dtype, tensors)
        name = dtype_name(dtype)
        function = _cupy.kernel(
            h_seq.device,
            LIF_SOURCE,
            lif_name_expressions(name),
            lif_backward_name(name, vec, ctx.params.surrogate),
        )
        p = _cupy.pointer
        args = (p(grad_spike), p(grad_v_seq), p(grad_v_last), p(h_seq), p(grad_x), p(grad_v))
        args += (np.int32(steps), np.int64(n), *launch_scalars(ctx.params))
        args += (np.int32(kernel_flags(ctx.params)),)
        _cupy.launch(h_seq.device, function, _grid(n, vec), (THREADS_PER_BLOCK, 1, 1), args)
        return grad_x, grad_v, None, None, None


def use_fused(x_seq: torch.Tensor, backend: str) -> bool:
    """Whether ``backend`` runs the fused kernels for this input (ValueError if impossible)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is not supported; choose one of {BACKENDS}")
    if backend == "torch":
        return False
    if backend == "auto":
        return x_seq.is_cuda and x_seq.dtype in _DTYPE_NAMES and _cupy.cupy_available()
    if not x_seq.is_cuda:
        raise ValueError(f"backend='cupy' needs a CUDA tensor, got one on {x_seq.device}")
    if not _cupy.cupy_available():
        _cupy.import_cupy()  # raises ImportError naming the extras
    return True


def lif_multi_step(
    x_seq: torch.Tensor,
    v: torch.Tensor | float,
    params: LIFParameters,
    store_v_seq: bool = False,
    backend: str = "auto",
) -> LIFOutput:
    """LIF over the leading (time) axis: ``x_seq`` ``[T, N, ...]`` -> ``LIFOutput``.

    ``v`` is the state before step 0: a float32 tensor ``[N, ...]`` or a float. ``backend``:
    ``'cupy'`` (fused kernels, CUDA only), ``'torch'`` (the reference) or ``'auto'`` (fused on
    CUDA when CuPy is installed). Spikes and ``v_seq`` have the input dtype; the state is
    float32.
    """
    params = checked(params)
    if x_seq.dim() < 2 or x_seq.shape[0] == 0 or x_seq[0].numel() == 0:
        raise ValueError(f"x_seq must be [T, N, ...] with T, N > 0, got {list(x_seq.shape)}")
    if not use_fused(x_seq, backend):
        return lif_multi_step_reference(x_seq, v, params, store_v_seq)
    shape = x_seq.shape
    if isinstance(v, torch.Tensor):
        v = v.to(device=x_seq.device, dtype=torch.float32).expand(shape[1:]).reshape(-1)
    else:
        v = torch.full((shape[1:].numel(),), float(v), dtype=torch.float32, device=x_seq.device)
    needs_grad = torch.is_grad_enabled() and (x_seq.requires_grad or v.requires_grad)
    outputs = FusedLIF.apply(x_seq.reshape(shape[0], -1), v, params, store_v_seq, needs_grad)
    v_seq = outputs[2].view(shape) if store_v_seq else None
    return LIFOutput(outputs[0].view(shape), outputs[1].view(shape[1:]), v_seq)
