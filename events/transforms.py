"""Transforms of frames ``[..., H, W]`` (usually one sample ``[T, P, H, W]``) and of events.

Each transform is a frozen dataclass holding its parameters and called as ``t(frames, rng)``.
A random transform draws its parameters once per call from the ``np.random.Generator`` it is
given, and applies them to every frame of the sample, so the T frames stay aligned; the same
seed gives the same result. Call it once per sample. ``rng`` is optional: without one a
generator is seeded from NumPy's global generator (``checks.random_generator``), the one
Tonic's random transforms use, so ours run inside ``tonic.transforms.Compose`` (which calls
``t(frames)``) and ``np.random.seed`` reproduces the whole pipeline. Frames may be numpy arrays (returned as
float32 numpy) or torch tensors (returned as tensors); the input is never modified, and a
transform that changes nothing may return its input.

``Denoise`` works on event arrays: a vectorised version of Tonic's ``Denoise``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from snn_transfer.errors import ConfigError, EventFormatError
from snn_transfer.events.checks import random_generator, size_pair
from snn_transfer.events.spec import Spec

Frames = Any  # np.ndarray or torch.Tensor, shape [..., H, W]


def _as_tensor(frames: Frames) -> tuple[Any, bool]:
    """The frames as a torch tensor (no copy for float32 numpy) and whether they were numpy."""
    import torch

    if isinstance(frames, torch.Tensor):
        return frames, False
    return torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)), True


def _as_input(tensor: Any, was_numpy: bool) -> Frames:
    return tensor.numpy() if was_numpy else tensor


def _as_planes(tensor: Any) -> Any:
    """``[..., H, W]`` as ``[1, L, H, W]``: every leading index becomes one channel."""
    return tensor.reshape(1, -1, *tensor.shape[-2:])


def resize(
    frames: Frames, size: tuple[int, int], *, align_corners: bool = False, antialias: bool = False
) -> Frames:
    """Bilinear resize of ``[..., H, W]`` to ``[..., size[0], size[1]]``."""
    import torch.nn.functional as F

    tensor, was_numpy = _as_tensor(frames)
    out = F.interpolate(
        _as_planes(tensor),
        size=size,
        mode="bilinear",
        align_corners=align_corners,
        antialias=antialias,
    )
    return _as_input(out.reshape(*tensor.shape[:-2], *size), was_numpy)


def downsample(frames: Frames, factor: int) -> Frames:
    """Sum ``factor x factor`` blocks: ``[..., H, W]`` to ``[..., ceil(H/f), ceil(W/f)]``.

    Zeros pad the last partial blocks, so the total count of every frame is preserved.
    """
    import torch.nn.functional as F

    tensor, was_numpy = _as_tensor(frames)
    height, width = tensor.shape[-2:]
    out_h, out_w = -(-height // factor), -(-width // factor)
    padded = F.pad(tensor, (0, out_w * factor - width, 0, out_h * factor - height))
    blocks = padded.reshape(*tensor.shape[:-2], out_h, factor, out_w, factor)
    return _as_input(blocks.sum(dim=(-3, -1)), was_numpy)


def crop(frames: Frames, top: int, left: int, size: tuple[int, int], padding: int = 0) -> Frames:
    """Pad ``[..., H, W]`` with ``padding`` zeros on every side, then cut ``size`` (h, w) at
    row ``top`` and column ``left`` of the padded frames (torchvision RandomCrop's geometry)."""
    import torch

    tensor, was_numpy = _as_tensor(frames)
    height, width = tensor.shape[-2:]
    out = torch.zeros(*tensor.shape[:-2], *size, dtype=tensor.dtype, device=tensor.device)
    row0, col0 = top - padding, left - padding  # window origin in unpadded coordinates
    rows = slice(max(row0, 0), min(row0 + size[0], height))
    cols = slice(max(col0, 0), min(col0 + size[1], width))
    if rows.start < rows.stop and cols.start < cols.stop:
        out[..., rows.start - row0 : rows.stop - row0, cols.start - col0 : cols.stop - col0] = (
            tensor[..., rows, cols]
        )
    return _as_input(out, was_numpy)


def hflip(frames: Frames) -> Frames:
    """Mirror left-right: column x goes to W - 1 - x."""
    tensor, was_numpy = _as_tensor(frames)
    return _as_input(tensor.flip(-1), was_numpy)


def rotate(frames: Frames, degrees: float, *, interpolation: str = "bilinear") -> Frames:
    """Rotate ``[..., H, W]`` by ``degrees`` counter-clockwise about the image centre.

    Same size out, zeros where the rotated frame does not reach; ``interpolation`` is
    "bilinear" or "nearest" (torchvision's rotate has the same geometry).
    """
    import torch
    import torch.nn.functional as F

    tensor, was_numpy = _as_tensor(frames)
    height, width = tensor.shape[-2:]
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    # output -> input sampling map in normalised coordinates, corrected for the aspect ratio
    theta = torch.tensor(
        [[[c, -s * height / width, 0.0], [s * width / height, c, 0.0]]],
        dtype=tensor.dtype,
        device=tensor.device,
    )
    planes = _as_planes(tensor)
    grid = F.affine_grid(theta, list(planes.shape), align_corners=False)
    out = F.grid_sample(planes, grid, mode=interpolation, padding_mode="zeros", align_corners=False)
    return _as_input(out.reshape(tensor.shape), was_numpy)


@dataclass(frozen=True)
class Resize(Spec):
    """Bilinear resize to ``size`` (H, W), or (s, s) for an int."""

    size: tuple[int, int]
    align_corners: bool = False
    antialias: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", size_pair("Resize: size", self.size))

    def __call__(self, frames: Frames, rng: np.random.Generator | None = None) -> Frames:
        return resize(frames, self.size, align_corners=self.align_corners, antialias=self.antialias)


@dataclass(frozen=True)
class Downsample(Spec):
    """Sum ``factor x factor`` pixel blocks; event counts are preserved."""

    factor: int

    def __post_init__(self) -> None:
        if isinstance(self.factor, bool) or not isinstance(self.factor, int) or self.factor < 1:
            raise ConfigError(f"Downsample: factor must be a positive int, got {self.factor!r}")

    def __call__(self, frames: Frames, rng: np.random.Generator | None = None) -> Frames:
        return downsample(frames, self.factor)


@dataclass(frozen=True)
class RandomCrop(Spec):
    """Pad with ``padding`` zeros, then crop ``size`` at a uniformly drawn position,
    like ``torchvision.transforms.RandomCrop(size, padding)``."""

    size: tuple[int, int]
    padding: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", size_pair("RandomCrop: size", self.size))
        if isinstance(self.padding, bool) or not isinstance(self.padding, int) or self.padding < 0:
            raise ConfigError(f"RandomCrop: padding must be an int >= 0, got {self.padding!r}")

    def __call__(self, frames: Frames, rng: np.random.Generator | None = None) -> Frames:
        rng = random_generator("RandomCrop", rng)
        height, width = frames.shape[-2:]
        room_h = height + 2 * self.padding - self.size[0]
        room_w = width + 2 * self.padding - self.size[1]
        if room_h < 0 or room_w < 0:
            raise ConfigError(
                f"RandomCrop: size {self.size} is larger than the padded frames "
                f"({height + 2 * self.padding}, {width + 2 * self.padding})"
            )
        top = int(rng.integers(0, room_h + 1))
        left = int(rng.integers(0, room_w + 1))
        return crop(frames, top, left, self.size, self.padding)


@dataclass(frozen=True)
class RandomFlip(Spec):
    """Mirror left-right with probability ``p`` (one draw per call, even for p = 0 or 1)."""

    p: float = 0.5

    def __post_init__(self) -> None:
        if isinstance(self.p, bool) or not isinstance(self.p, int | float) or not 0 <= self.p <= 1:
            raise ConfigError(f"RandomFlip: p must be in [0, 1], got {self.p!r}")

    def __call__(self, frames: Frames, rng: np.random.Generator | None = None) -> Frames:
        flip = random_generator("RandomFlip", rng).random() < self.p
        return hflip(frames) if flip else frames


@dataclass(frozen=True)
class RandomRotation(Spec):
    """Rotate by an angle drawn uniformly from ``[-degrees, degrees]``, zeros outside.

    torchvision's ``RandomRotation`` (what the reference uses) interpolates "nearest" by
    default; bilinear is the default here.
    """

    degrees: float = 15
    interpolation: str = "bilinear"

    def __post_init__(self) -> None:
        if isinstance(self.degrees, bool) or not isinstance(self.degrees, int | float):
            raise ConfigError(f"RandomRotation: degrees must be a number, got {self.degrees!r}")
        if self.degrees < 0:
            raise ConfigError(f"RandomRotation: degrees must be >= 0, got {self.degrees}")
        if self.interpolation not in ("bilinear", "nearest"):
            raise ConfigError(
                "RandomRotation: interpolation must be 'bilinear' or 'nearest', "
                f"got {self.interpolation!r}"
            )

    def __call__(self, frames: Frames, rng: np.random.Generator | None = None) -> Frames:
        angle = random_generator("RandomRotation", rng).uniform(-self.degrees, self.degrees)
        return rotate(frames, angle, interpolation=self.interpolation)


@dataclass(frozen=True)
class Compose(Spec):
    """Apply ``transforms`` in order, passing each the same ``rng`` (without one, a single
    generator drawn from NumPy's global one serves them all)."""

    transforms: tuple[Callable[..., Any], ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "transforms", tuple(self.transforms))
        for t in self.transforms:
            if not callable(t):
                raise ConfigError(f"Compose: {t!r} is not callable")

    def __call__(self, frames: Frames, rng: np.random.Generator | None = None) -> Frames:
        rng = random_generator("Compose", rng)
        for t in self.transforms:
            frames = t(frames, rng)
        return frames


def denoise(events: np.ndarray, filter_time: float) -> np.ndarray:
    """Keep the events that have support: an event at one of the 4 neighbouring pixels with
    timestamp ``t_n`` in ``(t - filter_time, t]`` (microseconds).

    ``events``: structured array with integer x, y, t (any order; unsorted is fine). Returns
    the kept events, same dtype and order. Differences from ``tonic.functional.denoise``
    (a Python loop):

    * Tonic starts its timestamp memory at ``filter_time``, so an event with
      ``t < filter_time`` next to a pixel that never fired is kept. Here it is dropped.
    * For equal timestamps Tonic counts a neighbour only if it comes earlier in the array;
      here simultaneous neighbours support each other whatever their order.

    Otherwise (streams from ``t >= filter_time`` without equal timestamps at neighbouring
    pixels) the result equals Tonic's.
    """
    missing = [f for f in "xyt" if f not in (events.dtype.names or ())]
    if missing:
        raise EventFormatError(f"denoise needs fields x, y, t; {missing} missing")
    if len(events) == 0:
        return events.copy()
    x = events["x"].astype(np.int64)
    y = events["y"].astype(np.int64)
    t = events["t"].astype(np.int64)
    for name, values in (("x", x), ("y", y)):
        if values.min() < 0:
            raise EventFormatError(f"negative {name}", index=int(np.argmax(values < 0)))
    width, height = int(x.max()) + 1, int(y.max()) + 1
    pixel = y * width + x
    t_min, t_span = int(t.min()), int(t.max()) - int(t.min()) + 1
    # neighbours count if their gap d (an int) satisfies d < filter_time, i.e. d <= max_gap
    max_gap = t_span if filter_time > t_span else math.ceil(filter_time) - 1
    if width * height * t_span < 2**62:
        key_t = t - t_min
        low = np.maximum(key_t - max_gap, 0)
    else:  # timestamps too far apart for one int64 key: use their ranks instead
        unique, key_t = np.unique(t, return_inverse=True)
        t_span = len(unique)
        low = np.searchsorted(unique, t - max_gap, side="left")
    # Sorted by (pixel, time), each pixel's events form one run of keys, and the queries
    # for a fixed neighbour offset come out sorted too, which keeps the searches fast.
    keys = pixel * t_span + key_t
    order = np.argsort(keys)
    keys, pixel, key_t, low = keys[order], pixel[order], key_t[order], low[order]
    x, y = x[order], y[order]
    supported = np.zeros(len(events), dtype=bool)
    for step, has_neighbour in (
        (-1, x > 0),
        (1, x < width - 1),
        (-width, y > 0),
        (width, y < height - 1),
    ):
        base = (pixel + step) * t_span
        # the neighbour's latest event at or before t, if any, must be no older than low
        latest = np.searchsorted(keys, base + key_t, side="right") - 1
        supported |= has_neighbour & (keys[np.maximum(latest, 0)] >= base + low) & (latest >= 0)
    keep = np.empty_like(supported)
    keep[order] = supported
    return events[keep]


@dataclass(frozen=True)
class Denoise(Spec):
    """Drop events without a neighbouring event in the last ``filter_time`` microseconds
    (see ``denoise``)."""

    filter_time: float

    def __post_init__(self) -> None:
        value = self.filter_time
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ConfigError(f"Denoise: filter_time must be > 0 us, got {value!r}")

    def __call__(self, events: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        return denoise(events, self.filter_time)
