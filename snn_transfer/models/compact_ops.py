"""Autograd functions of a Conv -> BatchNorm -> LIF block that keep little for the backward.

What PyTorch's autograd keeps for one such block (per neuron and time step): the float input
of the convolution (4 bytes, spikes that are 0 or 1), the BatchNorm input (4), and what the
neuron's loop keeps (its charged potential, 4, plus copies and stacks). Here:

* :class:`SpikeConv2d`: a convolution whose input is spikes (0 or 1), optionally average-pooled
  first; it keeps the spikes as bits (1/8 byte) and rebuilds the exact input for the backward.
* :class:`BatchNormLIF`: BatchNorm in training mode followed by the multi-step LIF neuron; it
  keeps only the BatchNorm input (the convolution's output, in its dtype) and its statistics,
  and recomputes the normalised current and the membrane potentials in the backward. The
  recomputation runs the same operations on the same values, so the backward sees exactly
  the potentials of the forward.

Layout: activations are batch-major, ``[B * T, C, H, W]`` with sample ``b``, step ``t`` at row
``b * T + t``. Per-step BatchNorm (statistics of each step's ``B * H * W`` values) is then
ONE BatchNorm call over the view ``[B, T * C, H, W]`` with the affine parameters repeated T
times, instead of T calls. The neuron math is SpikingJelly 2.0's ``LIFNode`` (its CPU
operator's expressions: ``H = V + (X - (V - V_reset)) / tau``, fire on ``H >= V_threshold``,
hard reset to ``V_reset`` or soft reset), with the surrogate gradients of
``kernels.reference.surrogate_gradient``. BatchNorm statistics, neuron states and ``v_seq``
are float32 whatever the convolution's dtype (bfloat16 under autocast).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from snn_transfer.kernels.parameters import LIFParameters
from snn_transfer.kernels.reference import surrogate_gradient

# eight 0/1 bytes read as one little-endian int64, times this, shifted right by 56: the
# eight bits in one byte (byte i of the group lands in bit i)
_GATHER = 0x0102040810204080


def pack_bits(spikes: torch.Tensor) -> torch.Tensor:
    """A tensor of zeros and ones (any dtype) as bits: uint8 ``[ceil(numel / 8)]``."""
    flat = (spikes.reshape(-1) != 0).view(torch.uint8)
    pad = -flat.numel() % 8
    if pad:
        flat = F.pad(flat, (0, pad))
    words = flat.view(torch.int64)
    return ((words * _GATHER) >> 56).to(torch.uint8)


def unpack_bits(packed: torch.Tensor, shape: torch.Size, dtype: torch.dtype) -> torch.Tensor:
    """The inverse of :func:`pack_bits`: a contiguous tensor of ``shape`` and ``dtype``."""
    shifts = torch.arange(8, dtype=torch.uint8, device=packed.device)
    bits = (packed[:, None] >> shifts) & 1
    return bits.reshape(-1)[: shape.numel()].to(dtype).view(shape)


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype a convolution of ``x`` runs in: autocast's where it is on, else ``x``'s."""
    device = x.device.type
    if device in ("cpu", "cuda") and torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return x.dtype


class SpikeConv2d(torch.autograd.Function):
    """``conv2d(avg_pool2d(spikes, pool) if pool else spikes)`` keeping the spikes as bits.

    ``forward(spikes [N, C, H, W] of 0/1, weight, bias or None, pool (int, 0: none), stride,
    padding, dilation, groups, dtype)``: the convolution runs in ``dtype`` (the weight and the
    bias are cast, as autocast does) and returns ``[N, C', H', W']`` in ``dtype``. Gradients:
    spikes (in their dtype), weight and bias (in theirs).
    """

    @staticmethod
    def forward(
        ctx: Any,
        spikes: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        pool: int,
        stride: tuple[int, int],
        padding: tuple[int, int],
        dilation: tuple[int, int],
        groups: int,
        dtype: torch.dtype,
    ) -> torch.Tensor:
        spikes = spikes.contiguous()
        x = F.avg_pool2d(spikes, pool) if pool else spikes
        b = None if bias is None else bias.to(dtype)
        out = F.conv2d(x.to(dtype), weight.to(dtype), b, stride, padding, dilation, groups)
        ctx.save_for_backward(pack_bits(spikes), weight)
        ctx.shape, ctx.spike_dtype, ctx.dtype = spikes.shape, spikes.dtype, dtype
        ctx.conv = (pool, stride, padding, dilation, groups)
        ctx.bias = None if bias is None else (bias.shape, bias.dtype)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        packed, weight = ctx.saved_tensors
        pool, stride, padding, dilation, groups = ctx.conv
        dtype = ctx.dtype
        spikes = unpack_bits(packed, ctx.shape, dtype)
        x = F.avg_pool2d(spikes, pool) if pool else spikes
        mask = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.bias is not None]
        mask[2] = mask[2] and ctx.needs_input_grad[2]
        bias_sizes = list(ctx.bias[0]) if ctx.bias is not None else None
        grad_x, grad_w, grad_b = torch.ops.aten.convolution_backward(
            grad.to(dtype).contiguous(),
            x,
            weight.to(dtype),
            bias_sizes,
            list(stride),
            list(padding),
            list(dilation),
            False,
            [0, 0],
            groups,
            mask,
        )
        if grad_x is not None:
            if pool:
                grad_x = torch.ops.aten.avg_pool2d_backward(
                    grad_x, spikes, [pool, pool], [pool, pool], [0, 0], False, True, None
                )
            grad_x = grad_x.to(ctx.spike_dtype)
        if grad_w is not None:
            grad_w = grad_w.to(weight.dtype)
        if grad_b is not None:
            grad_b = grad_b.to(ctx.bias[1])
        return grad_x, grad_w, grad_b, None, None, None, None, None, None


def _charge(y: torch.Tensor, v: torch.Tensor, p: LIFParameters) -> torch.Tensor:
    reset = 0.0 if p.v_reset is None else p.v_reset
    rest = v if reset == 0.0 else v - reset  # v - 0.0 is v, bit for bit
    if p.decay_input:
        return v + (y - rest) / p.tau
    return v - rest / p.tau + y


def _fire_and_reset(h: torch.Tensor, p: LIFParameters) -> tuple[torch.Tensor, torch.Tensor]:
    fired = h >= p.v_threshold
    if p.v_reset is None:
        return fired, torch.where(fired, h - p.v_threshold, h)
    return fired, torch.where(fired, p.v_reset, h)


def state_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype of statistics and neuron states for inputs of ``dtype``: float32, or
    float64 for float64 inputs."""
    return torch.promote_types(dtype, torch.float32)


def _initial_v(y: torch.Tensor, p: LIFParameters) -> torch.Tensor:
    start = 0.0 if p.v_reset is None else p.v_reset
    return torch.full_like(y[:, 0], start)


def lif_forward(
    current: torch.Tensor, p: LIFParameters, store_v_seq: bool, spike_dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The LIF neuron over ``current`` ``[B, T, N]`` (float32 or float64) from its reset
    state: ``(spikes [B, T, N] in spike_dtype, v_seq [B, T, N] in current's dtype or None)``."""
    spikes = torch.empty(current.shape, dtype=spike_dtype, device=current.device)
    v_seq = torch.empty_like(current) if store_v_seq else None
    v = _initial_v(current, p)
    for t in range(current.shape[1]):
        h = _charge(current[:, t], v, p)
        fired, v = _fire_and_reset(h, p)
        spikes[:, t] = fired
        if v_seq is not None:
            v_seq[:, t] = v
    return spikes, v_seq


def lif_backward(
    current: torch.Tensor,
    grad_spikes: torch.Tensor | None,
    grad_v_seq: torch.Tensor | None,
    p: LIFParameters,
) -> torch.Tensor:
    """Gradient of the input current ``[B, T, N]`` (float32 or float64), given the gradients of the spikes
    and of ``v_seq`` (``[B, T, N]`` or None). ``current`` is overwritten: first with the
    charged potentials (the forward recomputed), then with the gradient, which is returned."""
    v = _initial_v(current, p)
    steps = current.shape[1]
    for t in range(steps):  # the forward again, keeping H[t] where the current was
        h = _charge(current[:, t], v, p)
        current[:, t] = h
        _, v = _fire_and_reset(h, p)
    carry = None
    for t in range(steps - 1, -1, -1):
        h = current[:, t]
        slope = surrogate_gradient(h - p.v_threshold, p.surrogate, p.alpha)
        grad_v = carry
        if grad_v_seq is not None:
            g = grad_v_seq[:, t].to(h.dtype)
            grad_v = g if grad_v is None else grad_v + g
        grad_h = (
            torch.zeros_like(h) if grad_spikes is None else grad_spikes[:, t].to(h.dtype) * slope
        )
        if grad_v is not None:
            if p.v_reset is None:
                through = grad_v if p.detach_reset else grad_v * (1.0 - p.v_threshold * slope)
            else:
                fired = h >= p.v_threshold
                through = torch.where(fired, 0.0, grad_v)
                if not p.detach_reset:
                    through = through + grad_v * (p.v_reset - h) * slope
            grad_h = grad_h + through
        carry = grad_h - grad_h / p.tau
        current[:, t] = grad_h / p.tau if p.decay_input else grad_h
    return current


def _repeat(param: torch.Tensor | None, steps: int) -> torch.Tensor | None:
    return None if param is None else param.repeat(steps)


def _normalise(
    x: torch.Tensor,
    steps: int,
    per_step: bool,
    weight: torch.Tensor,
    bias: torch.Tensor,
    eps: float,
) -> tuple[torch.Tensor, ...]:
    """Training-mode BatchNorm of ``x`` ``[B*T, C, H, W]`` (as float32): ``(y, mean, invstd,
    batch mean, unbiased batch variance)``, one row of statistics per step with ``per_step``."""
    xf = x.to(state_dtype(x.dtype))
    view = xf.view(xf.shape[0] // steps, steps * xf.shape[1], *xf.shape[2:]) if per_step else xf
    w, b = (_repeat(weight, steps), _repeat(bias, steps)) if per_step else (weight, bias)
    mean = xf.new_zeros(view.shape[1])
    var = xf.new_ones(view.shape[1])
    # momentum 1 leaves the batch mean and unbiased variance in the running buffers
    y, save_mean, save_invstd = torch.native_batch_norm(view, w, b, mean, var, True, 1.0, eps)
    return y, save_mean, save_invstd, mean, var


class BatchNormLIF(torch.autograd.Function):
    """Training-mode BatchNorm (or none) then the LIF neuron, recomputed in the backward.

    ``forward(x [B*T, C, H, W], weight, bias, steps, per_step, eps, params, store_v_seq,
    normalise)`` returns ``(spikes [B*T, C, H, W] in x's dtype, v_seq [B*T, C, H, W] float32
    (empty without store_v_seq), batch mean, unbiased batch variance)``; the statistics are
    ``[T * C]`` (step-major) with ``per_step``, ``[C]`` otherwise, empty without
    ``normalise`` (then ``weight`` and ``bias`` are None and the neuron reads ``x``).
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        weight: torch.Tensor | None,
        bias: torch.Tensor | None,
        steps: int,
        per_step: bool,
        eps: float,
        params: LIFParameters,
        store_v_seq: bool,
        normalise: bool,
    ) -> tuple[torch.Tensor, ...]:
        x = x.contiguous()
        shape = (x.shape[0] // steps, steps, x[0].numel())

        def empty() -> torch.Tensor:
            # a new one per output: torch.compile cannot trace one tensor returned twice
            return x.new_empty(0, dtype=state_dtype(x.dtype))

        stats: tuple[torch.Tensor, ...] = (empty(), empty())
        if normalise:
            y, save_mean, save_invstd, *stats = _normalise(x, steps, per_step, weight, bias, eps)
            ctx.save_for_backward(x, weight, bias, save_mean, save_invstd)
        else:
            y = x.to(state_dtype(x.dtype))
            ctx.save_for_backward(x)
        spikes, v_seq = lif_forward(y.view(shape), params, store_v_seq, x.dtype)
        ctx.steps, ctx.per_step, ctx.eps, ctx.params = steps, per_step, eps, params
        ctx.normalise = normalise
        ctx.mark_non_differentiable(*stats)
        ctx.set_materialize_grads(False)
        v_out = empty() if v_seq is None else v_seq.view(x.shape)
        return spikes.view(x.shape), v_out, *stats

    @staticmethod
    @once_differentiable
    def backward(
        ctx: Any, grad_spikes: torch.Tensor | None, grad_v_seq: torch.Tensor | None, *_: Any
    ) -> tuple[Any, ...]:
        none = (None,) * 6
        if ctx.normalise:
            x, weight, bias, save_mean, save_invstd = ctx.saved_tensors
            y, *_ = _normalise(x, ctx.steps, ctx.per_step, weight, bias, ctx.eps)
        else:
            (x,) = ctx.saved_tensors
            y = x.to(state_dtype(x.dtype), copy=True)
        shape = (x.shape[0] // ctx.steps, ctx.steps, x[0].numel())
        # an output nothing read has no gradient (None), or an empty one where torch.compile
        # traces the backward
        grads = [
            None if g is None or g.numel() == 0 else g.view(shape)
            for g in (grad_spikes, grad_v_seq)
        ]
        grad_y = lif_backward(y.view(shape), *grads, ctx.params).view(y.shape)
        if not ctx.normalise:
            return grad_y.to(x.dtype).view(x.shape), None, None, *none
        steps, per_step = ctx.steps, ctx.per_step
        xf = x.to(state_dtype(x.dtype))
        view = xf.view(grad_y.shape) if per_step else xf
        w = _repeat(weight, steps) if per_step else weight
        mask = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.needs_input_grad[2]]
        grad_x, grad_w, grad_b = torch.ops.aten.native_batch_norm_backward(
            grad_y, view, w, None, None, save_mean, save_invstd, True, ctx.eps, mask
        )
        if per_step:
            grad_w = None if grad_w is None else grad_w.view(steps, -1).sum(0)
            grad_b = None if grad_b is None else grad_b.view(steps, -1).sum(0)
        grad_x = None if grad_x is None else grad_x.view(x.shape).to(x.dtype)
        return grad_x, grad_w, grad_b, *none
