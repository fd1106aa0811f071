"""Events to frames on the GPU (``frames.cu``), for framing on the fly next to the model.

Give the frame boundaries as event index ranges, e.g. from
``snn_transfer.events.framing.frame_bounds(t, spec)`` (numpy, sorted timestamps in
microseconds); the counts then equal ``ToFrame(spec)`` on the CPU for every slicing mode. To
frame a batch at once, concatenate the streams' coordinates and offset each stream's bounds by
its first event index: frame rows follow the bounds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from snn_transfer.kernels import _cupy
from snn_transfer.kernels._source import FRAMES_KERNEL, FRAMES_SOURCE
from snn_transfer.kernels.reference import bin_events_reference

THREADS_PER_BLOCK = 256
MAX_GRID_Y = 65535


def _bounds(values: Any) -> torch.Tensor:
    """Frame bounds as a CPU int64 tensor (from a tensor on any device, an array or a list)."""
    if isinstance(values, torch.Tensor):
        return values.to("cpu", torch.int64)
    return torch.as_tensor(np.asarray(values, dtype=np.int64))


def check_events(
    x: torch.Tensor, y: torch.Tensor, p: torch.Tensor | None, sensor_size: tuple[int, int, int]
) -> None:
    """ValueError unless ``0 <= x < W``, ``0 <= y < H`` and (for ``P = 2``) ``p`` in {0, 1}."""
    width, height, n_pol = sensor_size
    limits = [("x", x, width), ("y", y, height)]
    if n_pol == 2 and p is not None:
        limits.append(("p", p, 2))
    for name, values, limit in limits:
        if len(values) and bool(((values < 0) | (values >= limit)).any()):
            bad = int(torch.nonzero((values < 0) | (values >= limit))[0, 0])
            raise ValueError(
                f"event {bad}: {name}={int(values[bad])} is outside [0, {limit}) of "
                f"sensor_size {tuple(sensor_size)}"
            )


def bin_events(
    x: torch.Tensor,
    y: torch.Tensor,
    p: torch.Tensor | None,
    starts: Any,
    ends: Any,
    sensor_size: tuple[int, int, int],
    *,
    backend: str = "auto",
    validate: bool = True,
) -> torch.Tensor:
    """Event counts per frame, polarity and pixel: float32 ``[F, P, H, W]`` on ``x``'s device.

    ``x``, ``y``, ``p``: ``[E]`` integer tensors (p 0 or 1; None with ``P = 1``); frame ``f``
    counts events ``starts[f] <= i < ends[f]`` (``[F]`` ints, tensor or array).
    ``sensor_size`` is ``(W, H, P)`` with ``P = 1`` (polarities merged) or 2. ``backend``:
    ``'cupy'`` (``frames.cu``), ``'torch'`` (``bincount``) or ``'auto'`` (CuPy on CUDA when
    installed). ``validate`` raises ValueError for events outside the sensor (one device sync);
    without it such events are dropped on the GPU.
    """
    width, height, n_pol = (int(v) for v in sensor_size)
    if n_pol not in (1, 2) or width < 1 or height < 1:
        raise ValueError(f"sensor_size must be (W, H, P) with P 1 or 2, got {sensor_size!r}")
    if n_pol == 2 and p is None:
        raise ValueError("sensor_size has P = 2 polarities but p is None")
    starts, ends = _bounds(starts), _bounds(ends)
    if starts.shape != ends.shape or starts.dim() != 1:
        raise ValueError(f"starts and ends must be [F], got {starts.shape} and {ends.shape}")
    n_events = len(x)
    if len(starts) and (starts.min() < 0 or ends.max() > n_events):
        raise ValueError(f"frame bounds must lie in [0, {n_events}] (the number of events)")
    if validate:
        check_events(x, y, p, (width, height, n_pol))
    if backend not in ("auto", "cupy", "torch"):
        raise ValueError(f"backend={backend!r} is not supported; choose auto, cupy or torch")
    fused = backend == "cupy" or (backend == "auto" and x.is_cuda and _cupy.cupy_available())
    if fused and not x.is_cuda:
        raise ValueError(f"backend='cupy' needs CUDA tensors, got x on {x.device}")
    if not fused:
        return bin_events_reference(x, y, p, starts, ends, (width, height, n_pol))
    return bin_events_fused(x, y, p, starts, ends, (width, height, n_pol))


def bin_events_fused(
    x: torch.Tensor,
    y: torch.Tensor,
    p: torch.Tensor | None,
    starts: torch.Tensor,
    ends: torch.Tensor,
    sensor_size: tuple[int, int, int],
) -> torch.Tensor:
    """The launch of ``frames.cu`` behind ``bin_events`` (no checks; CPU int64 bounds)."""
    width, height, n_pol = sensor_size
    device = x.device
    frames = torch.zeros(len(starts), n_pol, height, width, dtype=torch.float32, device=device)
    longest = int((ends - starts).max()) if len(starts) else 0
    if longest <= 0:
        return frames
    coords = [None if c is None else c.to(device, torch.int32).contiguous() for c in (x, y, p)]
    bounds = [b.to(device).contiguous() for b in (starts, ends)]
    function = _cupy.kernel(device, FRAMES_SOURCE, (FRAMES_KERNEL,), FRAMES_KERNEL)
    blocks_x = min(-(-longest // THREADS_PER_BLOCK), 4096)
    grid = (blocks_x, min(len(starts), MAX_GRID_Y), 1)
    ptr = _cupy.pointer
    args = tuple(ptr(t) for t in (*coords, *bounds, frames))
    args += tuple(np.int32(v) for v in (len(starts), width, height, n_pol))
    _cupy.launch(device, function, grid, (THREADS_PER_BLOCK, 1, 1), args)
    return frames
