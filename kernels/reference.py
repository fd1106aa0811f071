"""Pure torch references of the kernels; also the CPU path of the neuron and of the binning.

``lif_step`` is one step of the LIF neuron as a pure function of (input, state, parameters),
the same math as SpikingJelly 2.0's ``LIFNode`` and, expression for expression, as
``lif.cu``; ``lif_multi_step`` runs it over T steps. Gradients come from autograd through the
same graph SpikingJelly builds, so they check the kernel's hand-written backward.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from snn_transfer.kernels.parameters import LIFParameters, surrogate_constants


class LIFOutput(NamedTuple):
    """Result of a multi-step LIF pass.

    ``spike`` ``[T, N, ...]`` (input dtype, 0 or 1); ``v`` ``[N, ...]`` float32 (float64 for
    float64 input), the membrane potential after the last step (the next call's state); ``v_seq`` ``[T, N, ...]`` (input
    dtype), the post-reset membrane potential of every step, or None when not stored.
    """

    spike: torch.Tensor
    v: torch.Tensor
    v_seq: torch.Tensor | None


def surrogate_gradient(u: torch.Tensor, surrogate: str, alpha: float) -> torch.Tensor:
    """``g'(u)`` of a surrogate (see ``parameters``), elementwise, in the dtype of ``u``."""
    a, b = surrogate_constants(surrogate, alpha)
    if surrogate == "triangle":
        return (a - b * u.abs()).clamp_min(0.0)
    if surrogate == "rectangle":
        return (u.abs() < b).to(u.dtype) * a
    if surrogate == "atan":
        z = b * u
        return a / (1.0 + z * z)
    s = torch.sigmoid(a * u)
    return a * s * (1.0 - s)


class SurrogateSpike(torch.autograd.Function):
    """Heaviside ``u >= 0`` forward, ``grad * g'(u)`` backward."""

    @staticmethod
    def forward(ctx: Any, u: torch.Tensor, surrogate: str, alpha: float) -> torch.Tensor:
        ctx.save_for_backward(u)
        ctx.surrogate, ctx.alpha = surrogate, alpha
        return (u >= 0).to(u.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (u,) = ctx.saved_tensors
        return grad * surrogate_gradient(u, ctx.surrogate, ctx.alpha), None, None


def lif_step(
    x: torch.Tensor, v: torch.Tensor, params: LIFParameters
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One LIF step: ``(spike, v_next, h)`` for input ``x`` and state ``v``, both ``[N, ...]``.

    ``h`` is the charged (pre-spike) potential. Computed in the dtype of ``v``; the caller casts.
    """
    tau, threshold, reset = params.tau, params.v_threshold, params.v_reset
    charge_to = 0.0 if reset is None else reset
    decay_input = params.decay_input
    h = v + (x - (v - charge_to)) / tau if decay_input else v - (v - charge_to) / tau + x
    spike = SurrogateSpike.apply(h - threshold, params.surrogate, params.alpha)
    gate = spike.detach() if params.detach_reset else spike
    v_next = h - gate * threshold if reset is None else gate * reset + (1.0 - gate) * h
    return spike, v_next, h


def lif_multi_step(
    x_seq: torch.Tensor,
    v: torch.Tensor | float,
    params: LIFParameters,
    store_v_seq: bool = False,
) -> LIFOutput:
    """LIF over the leading (time) axis: ``x_seq`` ``[T, N, ...]`` -> ``LIFOutput``.

    The state is float32 for float32, float16 and bfloat16 input (float64 for float64): each
    step casts its input to the state dtype, and the spikes and ``v_seq`` are cast back to the
    input dtype, which is what the kernels do. ``v`` is the state before step 0 (a tensor
    ``[N, ...]`` or a float).
    """
    state = torch.promote_types(x_seq.dtype, torch.float32)
    if not isinstance(v, torch.Tensor):
        v = torch.full(x_seq.shape[1:], float(v), dtype=state, device=x_seq.device)
    v = v.to(state)
    spikes, voltages = [], []
    for x in x_seq.unbind(0):
        spike, v, _ = lif_step(x.to(state), v, params)
        spikes.append(spike.to(x_seq.dtype))
        if store_v_seq:
            voltages.append(v.to(x_seq.dtype))
    v_seq = torch.stack(voltages) if store_v_seq else None
    return LIFOutput(torch.stack(spikes), v, v_seq)


def bin_events_reference(
    x: torch.Tensor,
    y: torch.Tensor,
    p: torch.Tensor | None,
    starts: torch.Tensor,
    ends: torch.Tensor,
    sensor_size: tuple[int, int, int],
) -> torch.Tensor:
    """Counts of the events ``[starts[f], ends[f])`` per pixel: float32 ``[F, P, H, W]``.

    ``x``, ``y``, ``p``: ``[E]`` integer tensors; ``starts``, ``ends``: ``[F]`` indices into
    them; ``sensor_size`` ``(W, H, P)``, ``P = 1`` merges polarities (``p`` may be None). The
    coordinates must lie inside the sensor. Runs on the device of ``x``.
    """
    width, height, n_pol = sensor_size
    device = x.device
    starts = torch.as_tensor(starts, dtype=torch.int64).to(device)
    ends = torch.as_tensor(ends, dtype=torch.int64).to(device)
    lengths = (ends - starts).clamp_min(0)
    n_frames = len(starts)
    frame = torch.repeat_interleave(torch.arange(n_frames, device=device), lengths)
    first = torch.repeat_interleave(torch.cumsum(lengths, 0) - lengths, lengths)
    event = torch.repeat_interleave(starts, lengths) + torch.arange(len(frame), device=device)
    event -= first
    channel = p.long()[event] if n_pol == 2 and p is not None else torch.zeros_like(event)
    index = ((frame * n_pol + channel) * height + y.long()[event]) * width + x.long()[event]
    counts = torch.bincount(index, minlength=n_frames * n_pol * height * width)
    return counts.to(torch.float32).reshape(n_frames, n_pol, height, width)
