"""Saccade event emulator: a static image -> the event stream a DVS would record of it.

N-MNIST and N-Caltech101 were recorded by showing each image on a monitor and moving an ATIS
camera along three saccades, (0, 0) -> (3.5, 7) -> (7, 0) -> (0, 0) pixels, about 105 ms
each. This module re-enacts that: the image (its BT.601 luminance) is placed on a larger
sensor canvas, shifted with sub-pixel bilinear interpolation along the same path and
rendered every ``step_us``; each pixel emits an ON event when its log intensity has risen by
its contrast threshold since its last event, an OFF event when it has fallen by it.
Crossing times are interpolated linearly between sub-frames, a refractory period drops
events that follow too closely, and background noise adds sparse random events.

Everything is vectorised over pixels; only the sub-frames are looped over. All randomness
comes from one ``np.random.Generator`` seeded by the caller, so a (image, params, seed)
triple always gives the same stream.

Calibration of the defaults against tonic's real N-MNIST sample (a "4": 4,325 events over
311 ms, 49.6 % ON, same-polarity intervals of a pixel >= 1.7 ms at the 1st percentile): the
first 200 scikit-learn digits upsampled MNIST-style (``load_digits()``) on the 34x34 sensor
give 4,554 events on average (5-95 %: 4,063-5,098; the first "4": 4,199), 311-315 ms,
51.6 % ON, and the same 1.7 ms interval percentile; about 17 ms per sample on one core.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from snn_transfer.errors import ConfigError
from snn_transfer.events.core import EVENT_DTYPE
from snn_transfer.events.spec import Spec
from snn_transfer.events.static.convert import coerce_fields, image_channel, resize_image

PROFILES = ("minimum_jerk", "linear")
_FIELD_KINDS = {
    "saccade_us": int,
    "step_us": int,
    "threshold": float,
    "threshold_spread": float,
    "refractory_us": int,
    "noise_hz": float,
    "black_level": float,
    "background": float,
    "fit": bool,
    "invert_polarity": bool,
}


@dataclass(frozen=True)
class SaccadeParams(Spec):
    """Parameters of :func:`emulate_saccades`; a hashable value for cache fingerprints.

    Attributes:
        waypoints: ``(dx, dy)`` image displacements in pixels visited in order; one saccade
            per consecutive pair. Default: N-MNIST's triangle.
        saccade_us: duration of each saccade, microseconds.
        profile: position along a saccade: ``"minimum_jerk"`` (smooth start and stop, speed
            peaking mid-saccade, as the event rate of real recordings does) or ``"linear"``.
        step_us: interval between rendered sub-frames, microseconds.
        threshold: mean ON and OFF contrast threshold, natural-log intensity units.
        threshold_spread: standard deviation of the per-pixel thresholds (same units; ON
            and OFF drawn independently, clipped at ``0.2 * threshold``).
        refractory_us: minimum time between two events of one pixel, microseconds.
        noise_hz: background events per pixel per second (uniform in time, 50 % ON).
        black_level: luminance of a black pixel relative to white, > 0; sets the log
            contrast of the display (``log(1 / black_level)`` from black to white).
        background: luminance in [0, 1] of the canvas around the image.
        fit: if True, the image is first resized (bilinear, aspect kept) to the largest size
            whose saccade path stays inside the sensor; if False it is used as is, centred
            on the path, and parts that leave the sensor are not seen.
        invert_polarity: swap ON and OFF. Physically p = 1 is a brightening; in tonic's real
            N-MNIST sample the leading edge of a moving bright digit emits p = 0 events, so
            set this to mimic that file convention.
    """

    waypoints: tuple[tuple[float, float], ...] = ((0.0, 0.0), (3.5, 7.0), (7.0, 0.0), (0.0, 0.0))
    saccade_us: int = 105_000
    profile: str = "minimum_jerk"
    step_us: int = 1_000
    threshold: float = 0.45
    threshold_spread: float = 0.05
    refractory_us: int = 1_500
    noise_hz: float = 0.3
    black_level: float = 0.05
    background: float = 0.0
    fit: bool = False
    invert_polarity: bool = False

    def __post_init__(self) -> None:
        try:
            points = tuple((float(x), float(y)) for x, y in self.waypoints)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"waypoints must be (dx, dy) pairs, not {self.waypoints!r}") from err
        object.__setattr__(self, "waypoints", points)
        coerce_fields(self, _FIELD_KINDS)
        if len(points) < 2:
            raise ConfigError("waypoints needs at least two (dx, dy) points")
        if self.profile not in PROFILES:
            raise ConfigError(f"profile must be one of {PROFILES}, not {self.profile!r}")
        if self.step_us < 1 or self.saccade_us < self.step_us:
            raise ConfigError("need 1 <= step_us <= saccade_us (microseconds)")
        if not self.threshold > 0 or self.threshold_spread < 0:
            raise ConfigError("threshold must be > 0 and threshold_spread >= 0")
        if self.refractory_us < 0 or self.noise_hz < 0:
            raise ConfigError("refractory_us and noise_hz must be >= 0")
        if not 0 < self.black_level < 1 or not 0 <= self.background <= 1:
            raise ConfigError("need 0 < black_level < 1 and 0 <= background <= 1")

    @property
    def duration_us(self) -> int:
        """Length of the whole emulated recording, microseconds."""
        return int(self.saccade_us) * (len(self.waypoints) - 1)


def saccade_positions(params: SaccadeParams, times_us: np.ndarray) -> np.ndarray:
    """Image displacement ``(dx, dy)`` in pixels at each time: float64 ``[len(times), 2]``."""
    points = np.asarray(params.waypoints, np.float64)
    t = np.clip(np.asarray(times_us, np.float64), 0, params.duration_us)
    segment = np.minimum((t // params.saccade_us).astype(np.int64), len(points) - 2)
    u = (t - segment * params.saccade_us) / params.saccade_us
    if params.profile == "minimum_jerk":
        u = u**3 * (10 - 15 * u + 6 * u**2)
    start = points[segment]
    return start + u[:, None] * (points[segment + 1] - start)


def _placement(
    shape: tuple[int, int], sensor: tuple[int, int], params: SaccadeParams
) -> tuple[float, float]:
    """Top-left corner (x, y) of the image at displacement (0, 0), centring the path's box."""
    points = np.asarray(params.waypoints)
    low, high = points.min(axis=0), points.max(axis=0)
    h, w = shape
    ox = np.floor((sensor[0] - w - (high[0] - low[0])) / 2) - low[0]
    oy = np.floor((sensor[1] - h - (high[1] - low[1])) / 2) - low[1]
    return float(ox), float(oy)


def _render(padded: np.ndarray, offsets: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear samples of ``padded`` (the image with a 1-pixel background border) on the
    sensor grid, one frame per top-left image position in ``offsets [K, 2]`` (x, y):
    float32 ``[K, H, W]``. The shift is the same for every pixel, so the interpolation is
    done separably: columns first, then rows."""
    h, w = padded.shape[0] - 2, padded.shape[1] - 2

    def taps(coords: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        low = np.floor(coords)
        frac = (coords - low).astype(np.float32)[..., None]
        # +1 for the border; anything further out reads the border (the background).
        i0 = np.clip(low.astype(np.int64) + 1, 0, size + 1)
        i1 = np.clip(low.astype(np.int64) + 2, 0, size + 1)
        return i0, i1, frac

    k = len(offsets)
    x0, x1, fx = taps(np.arange(width)[None, :] - offsets[:, :1], w)  # [K, W]
    y0, y1, fy = taps(np.arange(height)[None, :] - offsets[:, 1:], h)  # [K, H]
    columns = padded.T  # [w + 2, h + 2]: gather whole columns, then whole rows
    cols = columns[x0] * (1 - fx) + columns[x1] * fx  # [K, W, h + 2]
    rows = np.arange(k)[:, None]
    frames = cols.transpose(0, 2, 1)  # [K, h + 2, W]
    return frames[rows, y0] * (1 - fy) + frames[rows, y1] * fy


def _crossings(
    previous: np.ndarray,
    current: np.ndarray,
    state: dict[str, np.ndarray],
    t0: float,
    step: float,
    refractory: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Events of one sub-frame interval ``(t0, t0 + step]``: pixel index, time (float µs),
    ON flag; updates the reference levels and last event times in ``state``.

    A pixel whose log intensity moved ``n`` thresholds past its reference crosses ``n``
    levels; with the intensity linear in time between sub-frames, crossing ``i`` happens at
    ``t0 + (i * th - start) / rate``. Crossings closer than the refractory period to the
    pixel's previous event are dropped; the reference still moves past them (the change is
    consumed, as in a pixel that resets after its refractory period).
    """
    reference, th_on, th_off = state["reference"], state["th_on"], state["th_off"]
    gap = current - reference
    fire = np.flatnonzero((gap >= th_on) | (gap <= -th_off))
    if not fire.size:
        return None
    on = gap[fire] > 0
    sign = np.where(on, 1.0, -1.0)
    th = np.where(on, th_on[fire], th_off[fire])
    n = np.floor(sign * gap[fire] / th)
    rate = np.maximum(sign * (current[fire] - previous[fire]) / step, 1e-12)
    start = sign * (previous[fire] - reference[fire])
    reference[fire] += sign * n * th
    first = np.maximum(
        1.0, np.ceil(((state["last"][fire] + refractory - t0) * rate + start) / th - 1e-9)
    )
    stride = np.maximum(1.0, np.ceil(refractory * rate / th - 1e-9))
    count = np.where(first <= n, (n - first) // stride + 1, 0).astype(np.int64)
    most = count.max()
    if most == 0:  # every crossing fell into a refractory period
        return None
    if most == 1:  # the common case: at most one event per pixel and sub-frame
        keep = np.flatnonzero(count)
        level, pixel, count = first[keep], fire[keep], None
    else:
        keep = np.flatnonzero(count)
        count = count[keep]
        ends = np.cumsum(count)
        within = np.arange(ends[-1]) - np.repeat(ends - count, count)
        level = np.repeat(first[keep], count) + within * np.repeat(stride[keep], count)
        pixel = np.repeat(fire[keep], count)
    th, start, rate, on = th[keep], start[keep], rate[keep], on[keep]
    if count is not None:
        th, start, rate, on = (np.repeat(a, count) for a in (th, start, rate, on))
    times = np.clip(t0 + (level * th - start) / rate, t0, t0 + step)
    # Events of one pixel are in time order, so the last write per pixel wins.
    state["last"][pixel] = times
    return pixel, times, on


def emulate_saccades(
    image,
    sensor_size: tuple[int, ...] = (34, 34),
    *,
    params: SaccadeParams = SaccadeParams(),  # noqa: B008 (frozen, immutable default)
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """Emulate a saccade recording of a static image.

    Args:
        image: ``uint8`` or [0, 1] float, ``[h, w]`` or ``[h, w, 3]`` (RGB is reduced to
            BT.601 luminance).
        sensor_size: ``(W, H)`` or ``(W, H, 2)`` of the emulated sensor; the stream's sensor
            size is ``(W, H, 2)``.
        params: the emulation parameters.
        seed: an int or a ``np.random.Generator`` (thresholds, initial reference levels and
            noise are drawn from it).

    Returns:
        ``EVENT_DTYPE`` events sorted by ``t`` (microseconds, from 0 to
        ``params.duration_us``), ``0 <= x < W``, ``0 <= y < H``, ``p`` 1 = ON, 0 = OFF.
    """
    width, height = (int(s) for s in tuple(sensor_size)[:2])
    if width < 1 or height < 1:
        raise ConfigError(f"sensor_size must be positive (W, H), not {sensor_size!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    luminance = np.clip(image_channel(image, "gray"), 0.0, 1.0)
    if params.fit:
        points = np.asarray(params.waypoints)
        span = points.max(axis=0) - points.min(axis=0)
        h, w = luminance.shape
        factor = min((width - span[0]) / w, (height - span[1]) / h)
        if factor <= 0:
            raise ConfigError(f"sensor {width}x{height} is smaller than the saccade path {span}")
        luminance = resize_image(luminance, (max(1, int(h * factor)), max(1, int(w * factor))))
    padded = np.pad(luminance.astype(np.float32), 1, constant_values=np.float32(params.background))
    ox, oy = _placement(luminance.shape, (width, height), params)

    n_pixels = width * height
    theta = params.threshold
    floor = 0.2 * theta
    state = {
        "th_on": np.maximum(rng.normal(theta, params.threshold_spread, n_pixels), floor),
        "th_off": np.maximum(rng.normal(theta, params.threshold_spread, n_pixels), floor),
        "last": np.full(n_pixels, -np.inf),
    }
    black = np.float32(params.black_level)

    def log_frames(first: int, stop: int) -> np.ndarray:
        t = np.arange(first, stop, dtype=np.float64) * params.step_us
        offsets = saccade_positions(params, t) + np.array([ox, oy])
        frames = _render(padded, offsets, width, height).reshape(len(t), n_pixels)
        return np.log(black + (1 - black) * frames).astype(np.float64)

    n_steps = params.duration_us // params.step_us
    chunk = max(1, 1_000_000 // n_pixels)
    previous = log_frames(0, 1)[0]
    # The pixel adapted to the still image before the first saccade: its reference lies
    # anywhere between one OFF and one ON threshold from the current level.
    state["reference"] = previous - rng.uniform(-state["th_off"], state["th_on"])
    pieces = []
    for first in range(1, n_steps + 1, chunk):
        for k, current in enumerate(log_frames(first, min(first + chunk, n_steps + 1)), first):
            step = float(params.step_us)
            found = _crossings(
                previous, current, state, (k - 1) * step, step, float(params.refractory_us)
            )
            if found is not None:
                pieces.append(found)
            previous = current

    n_noise = rng.poisson(params.noise_hz * n_pixels * params.duration_us * 1e-6)
    pieces.append(
        (
            rng.integers(0, n_pixels, n_noise),
            rng.uniform(0, params.duration_us, n_noise),
            rng.random(n_noise) < 0.5,
        )
    )
    index, times, polarity = (np.concatenate(parts) for parts in zip(*pieces, strict=True))
    t = np.rint(times).astype(np.int64)
    if params.invert_polarity:
        polarity = ~polarity
    order = np.argsort(t, kind="stable")
    events = np.empty(len(t), EVENT_DTYPE)
    events["x"] = index[order] % width
    events["y"] = index[order] // width
    events["t"] = t[order]
    events["p"] = polarity[order]
    return events


def emulate_images(
    source,
    sensor_size: tuple[int, ...] = (34, 34),
    *,
    params: SaccadeParams = SaccadeParams(),  # noqa: B008 (frozen, immutable default)
    seed: int = 0,
    indices: Sequence[int] | None = None,
) -> Iterator[tuple[np.ndarray, int, str]]:
    """Emulate every image of a ``StaticImages`` (or those at ``indices``).

    Yields ``(events, label, name)``. Image ``i`` always uses the generator seeded with
    ``(seed, i)``, so a sample's stream does not depend on which others are emulated, in
    what order, or in how many worker processes.
    """
    for i in range(len(source)) if indices is None else indices:
        rng = np.random.default_rng([int(seed), int(i)])
        events = emulate_saccades(source.image(i), sensor_size, params=params, seed=rng)
        yield events, int(source.labels[i]), source.names[i]


def saccade_params(fields: Any, key: str) -> SaccadeParams:
    """``SaccadeParams`` from a mapping of its fields (None: the defaults); a bad field is a
    ConfigError naming ``key`` (the option that gave the mapping) and the allowed fields."""
    if fields is None:
        return SaccadeParams()
    if not isinstance(fields, dict):
        raise ConfigError(f"{key} must be a mapping of saccade emulator parameters")
    allowed = [f.name for f in dataclasses.fields(SaccadeParams)]
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise ConfigError(f"{key} has no field {unknown}; its fields are {', '.join(allowed)}")
    try:
        return SaccadeParams(**fields)
    except (ConfigError, TypeError, ValueError) as error:
        raise ConfigError(f"{key}: {error}") from None
