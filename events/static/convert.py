"""Static image -> SNN input: resize, keep one channel, tile over polarities and time steps.

The reference route (N-Caltech101): resize the uint8 RGB picture to the event resolution with
Pillow's bilinear filter (antialiased when shrinking, which is what torchvision's ``Resize``
does on a PIL image), take the HSV value ``V = max(R, G, B) / 255``, copy it into both
polarity channels and repeat it for all T steps. Values stay in [0, 1] unless a scale is
asked for; the event frames next to them are raw counts, so :class:`StaticInputSpec` offers a
multiplicative ``scale`` or a ``target_mean`` to bring both to one range.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from snn_transfer.errors import ConfigError
from snn_transfer.events.checks import size_pair
from snn_transfer.events.spec import Spec

CHANNELS = ("v", "gray", "blue")
ORDERS = ("resize_first", "channel_first")
# ITU-R BT.601 luma weights (the ones Pillow's convert("L") uses).
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def as_image_array(image) -> np.ndarray:
    """``image`` (numpy array or PIL image) as an array ``[H, W]`` or ``[H, W, C]``."""
    if hasattr(image, "mode") and hasattr(image, "convert"):
        image = np.asarray(image if image.mode in ("L", "RGB", "F") else image.convert("RGB"))
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] < 3):
        raise ValueError(f"expected an image [H, W] or [H, W, 3], got shape {array.shape}")
    return array


def resize_image(image: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Bilinear resize to ``size = (H, W)`` with Pillow; None or the same size returns it as is.

    uint8 images stay uint8 (Pillow rounds, as in the reference); float images are resized
    per channel in float32.
    """
    from PIL import Image

    image = as_image_array(image)
    if size is None or tuple(image.shape[:2]) == tuple(size):
        return image
    h, w = (int(s) for s in size)
    bilinear = Image.Resampling.BILINEAR
    if image.dtype == np.uint8 and (image.ndim == 2 or image.shape[2] == 3):
        mode = "L" if image.ndim == 2 else "RGB"
        return np.asarray(Image.fromarray(image, mode).resize((w, h), bilinear))
    planes = image.astype(np.float32)
    planes = planes[:, :, None] if planes.ndim == 2 else planes
    out = np.stack(
        [
            np.asarray(Image.fromarray(planes[:, :, c], "F").resize((w, h), bilinear))
            for c in range(planes.shape[2])
        ],
        axis=2,
    )
    return out[:, :, 0] if image.ndim == 2 else out


def image_channel(image: np.ndarray, channel: str = "v") -> np.ndarray:
    """One channel of an image as float32 ``[H, W]`` in [0, 1].

    ``"v"``: HSV value ``max(R, G, B)``; ``"gray"``: BT.601 luma
    ``0.299 R + 0.587 G + 0.114 B``; ``"blue"``: the B channel (what the reference feeds when
    the V channel is switched off). A gray image gives its gray value for all three. uint8
    input is divided by 255; float input is taken to lie in [0, 1] already.
    """
    if channel not in CHANNELS:
        raise ConfigError(f"channel must be one of {CHANNELS}, not {channel!r}")
    image = as_image_array(image)
    values = image.astype(np.float32)
    if image.dtype == np.uint8:
        values /= 255.0
    if values.ndim == 2:
        return values
    rgb = values[:, :, :3]
    if channel == "v":
        return rgb.max(axis=2)
    if channel == "blue":
        return np.ascontiguousarray(rgb[:, :, 2])
    return rgb @ _LUMA


def coerce_fields(spec, kinds: dict[str, type]) -> None:
    """Convert the named fields of a frozen dataclass to ``int``/``float``/``bool`` in place
    (None stays None), so equal specs compare, hash and fingerprint alike; a value of the
    wrong kind (or NaN, infinity) raises ``ConfigError`` naming the class and field."""
    for name, kind in kinds.items():
        value = getattr(spec, name)
        if value is None:
            continue
        if kind is bool:
            ok = isinstance(value, bool | np.bool_)
        elif isinstance(value, bool | np.bool_ | str):
            ok = False
        else:
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = math.nan
            ok = math.isfinite(number) and (kind is float or number.is_integer())
        if not ok:
            raise ConfigError(
                f"{type(spec).__name__}: {name} must be {kind.__name__}, got {value!r}"
            )
        object.__setattr__(spec, name, kind(value))


@dataclass(frozen=True)
class StaticInputSpec(Spec):
    """How a static image becomes an SNN input ``float32 [T, P, H, W]``; a hashable value.

    Attributes:
        size: ``(H, W)`` of the event frames; None keeps the image's size.
        time_steps: T, the number of identical steps.
        channel: ``"v"`` (paper), ``"gray"`` or ``"blue"`` (the reference's "without V").
        order: ``"resize_first"`` (N-Caltech101 route: resize the uint8 image, then take the
            channel) or ``"channel_first"`` (CEP-DVS route: channel in float, then resize).
        scale: multiplies the channel (1.0 keeps [0, 1], the reference's range).
        target_mean: if set, each image is rescaled so that its mean equals this value (e.g.
            the mean event count per pixel and step); replaces ``scale``.
        polarities: P, the number of identical polarity channels.
    """

    size: tuple[int, int] | None = (48, 48)
    time_steps: int = 10
    channel: str = "v"
    order: str = "resize_first"
    scale: float = 1.0
    target_mean: float | None = None
    polarities: int = 2

    def __post_init__(self) -> None:
        if self.size is not None:
            object.__setattr__(self, "size", size_pair("StaticInputSpec: size", self.size))
        coerce_fields(
            self, {"time_steps": int, "polarities": int, "scale": float, "target_mean": float}
        )
        if self.time_steps < 1 or self.polarities < 1:
            raise ConfigError("time_steps and polarities must be at least 1")
        if self.channel not in CHANNELS:
            raise ConfigError(f"channel must be one of {CHANNELS}, not {self.channel!r}")
        if self.order not in ORDERS:
            raise ConfigError(f"order must be one of {ORDERS}, not {self.order!r}")
        if not float(self.scale) > 0:
            raise ConfigError(f"scale must be positive, not {self.scale!r}")
        if self.target_mean is not None:
            if not float(self.target_mean) > 0:
                raise ConfigError(f"target_mean must be positive, not {self.target_mean!r}")
            if float(self.scale) != 1.0:
                raise ConfigError("give either scale or target_mean, not both")

    def channel_of(self, image) -> np.ndarray:
        """The resized, scaled single channel of ``image``: float32 ``[H, W]``."""
        if self.order == "resize_first":
            plane = image_channel(resize_image(image, self.size), self.channel)
        else:
            plane = resize_image(image_channel(image, self.channel), self.size)
        plane = np.ascontiguousarray(plane, dtype=np.float32)
        if self.target_mean is not None:
            mean = float(plane.mean())
            if mean > 0:
                plane *= np.float32(self.target_mean / mean)
        elif self.scale != 1.0:
            plane *= np.float32(self.scale)
        return plane

    def __call__(self, image) -> np.ndarray:
        """``image`` -> float32 ``[T, P, H, W]``, the same plane at every step and polarity."""
        return tile_time(self.channel_of(image), self.time_steps, self.polarities)


def tile_time(channels, time_steps: int, polarities: int = 2):
    """Repeat planes ``[..., H, W]`` into ``[..., T, P, H, W]``.

    numpy input gives a new contiguous float32 array; a torch tensor gives an ``expand``-ed
    view (no copy), so tiling a batch on the GPU costs nothing.
    """
    if not isinstance(channels, np.ndarray) and hasattr(channels, "expand"):
        shape = (*channels.shape[:-2], time_steps, polarities, *channels.shape[-2:])
        return channels[..., None, None, :, :].expand(shape)
    channels = np.asarray(channels, dtype=np.float32)
    shape = (*channels.shape[:-2], time_steps, polarities, *channels.shape[-2:])
    return np.ascontiguousarray(np.broadcast_to(channels[..., None, None, :, :], shape))


def to_snn_input(
    image,
    size: tuple[int, int] | None = (48, 48),
    time_steps: int = 10,
    channel: str = "v",
    scale: float | None = None,
    *,
    target_mean: float | None = None,
    order: str = "resize_first",
    polarities: int = 2,
) -> np.ndarray:
    """One static image (``uint8`` or [0, 1] float, ``[H, W]`` or ``[H, W, 3]``) -> float32
    ``[T, P, H, W]`` (P = 2 by default). See :class:`StaticInputSpec` for the arguments.
    """
    spec = StaticInputSpec(
        size=size,
        time_steps=time_steps,
        channel=channel,
        order=order,
        scale=1.0 if scale is None else scale,
        target_mean=target_mean,
        polarities=polarities,
    )
    return spec(image)


def to_snn_batch(images: Sequence, spec: StaticInputSpec) -> np.ndarray:
    """Several images -> float32 ``[B, T, P, H, W]`` (DataLoader layout; the models take
    ``[T, B, P, H, W]``: ``swapaxes(0, 1)``). ``spec.size`` must be set unless all images
    already share one size."""
    planes = np.stack([spec.channel_of(image) for image in images])
    return tile_time(planes, spec.time_steps, spec.polarities)


def static_channels(
    source, spec: StaticInputSpec, indices: Sequence[int] | None = None, *, progress: bool = False
) -> np.ndarray:
    """The single channel of every image of a ``StaticImages`` (or of ``indices``): float32
    ``[N, H, W]``; the compact form to keep a whole static pool in memory, tiled per batch
    with :func:`tile_time`."""
    order = range(len(source)) if indices is None else indices
    if progress:
        from tqdm import tqdm

        order = tqdm(order, desc="static images", unit="img")
    return np.stack([spec.channel_of(source.image(i)) for i in order])
