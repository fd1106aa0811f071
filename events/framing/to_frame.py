"""Event streams to frames: float32 event counts ``[T, P, H, W]``.

``ToFrame`` has the four slicing modes of ``tonic.transforms.ToFrame`` and gives the same
frames wherever Tonic's are right. It differs on purpose in these cases:

* ``n_time_bins`` and ``n_event_bins`` never drop events. Tonic's bins are half-open with a
  floored width (``(t_last - t_first) // T`` microseconds, or ``n // T`` events), so the last
  events (all of them for one event or equal timestamps) fall outside every bin. Ours keep
  Tonic's bin starts and widths, and the last bin runs to the end of the stream: frames
  ``0 .. T-2`` equal Tonic's, and frame ``T-1`` is Tonic's plus exactly the events Tonic
  dropped.
* ``time_window`` with ``include_incomplete=True`` covers the closed interval
  ``[start, end]``: when the last window ends exactly at ``end``, Tonic drops the events at
  ``t == end``; ours keep them in the last window.
* Counts are float32, exact up to 2**24 per pixel and frame; Tonic's int16 wraps past 32767.
* An empty stream gives zeros ``[T, P, H, W]`` float32 for the bin modes; ``time_window`` gives
  one empty frame (or, with both ``start_time`` and ``end_time``, the windows they define) and
  ``event_count`` one empty frame. Tonic returns ``(T, P, W, H)`` float64.
* The input array is never modified. With ``P = 1`` both polarities are merged into the one
  channel; Tonic writes ``p = 0`` into the caller's array (and refuses two polarities).
* Events are validated first (coordinates inside the sensor, timestamps sorted and in
  ``[0, 2**62)`` microseconds), so a bad stream raises ``EventFormatError`` naming the first
  bad event instead of giving silently wrong frames. Duplicate events count once each.
* ``time_window`` refuses (``EventFormatError``, naming the event after the largest gap) a
  span whose frames would need more than ``MAX_FRAME_BYTES`` (16 GiB), which a corrupt
  timestamp causes, instead of allocating without bound. Bin edges are exact integers however
  large ``t`` is.

:class:`ExtentFrames` bins like ``ToFrame(n_time_bins=T)`` over each sample's own extent, for
recordings without a fixed sensor size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from snn_transfer.errors import ConfigError, EventFormatError
from snn_transfer.events.checks import number, positive_int, size_pair
from snn_transfer.events.core import SensorSize, as_events
from snn_transfer.events.framing.counting import accumulate, bin_edges, check_stream, round_up
from snn_transfer.events.spec import Spec
from snn_transfer.events.transforms import resize


def _whole(value: Any) -> Any:
    """Integral floats and numpy ints become ints, so equal specs print and fingerprint alike."""
    if isinstance(value, np.integer) or (isinstance(value, float) and value.is_integer()):
        return int(value)
    return value


MAX_FRAME_BYTES = 2**34  # bytes of frames one stream may need in time_window mode

_MODES = ("time_window", "event_count", "n_time_bins", "n_event_bins")


@dataclass(frozen=True)
class ToFrame(Spec):
    """Frames of one stream: float32 ``[T, P, H, W]`` counts per polarity and pixel.

    Set exactly one of ``time_window`` (microseconds), ``event_count``, ``n_time_bins`` or
    ``n_event_bins``. ``overlap`` is in microseconds for ``time_window``, in events for
    ``event_count`` and a fraction of a bin in ``[0, 1)`` for the bin modes.
    ``include_incomplete`` adds the last, shorter window (``time_window``, ``event_count``).
    ``start_time``/``end_time`` (microseconds, ``time_window`` only) replace the first and
    last timestamps as the span to cut into windows. ``sensor_size`` is ``(W, H, P)`` with
    ``P`` 1 (polarities merged) or 2. See the module docstring for how this differs from
    Tonic. The time modes do not depend on the order of events with equal timestamps; the
    event modes cut by position in the array, so for ties at a cut they do.
    """

    sensor_size: SensorSize
    time_window: float | None = None
    event_count: int | None = None
    n_time_bins: int | None = None
    n_event_bins: int | None = None
    overlap: float = 0
    include_incomplete: bool = False
    start_time: float | None = None
    end_time: float | None = None

    def __post_init__(self) -> None:
        size = self.sensor_size
        if not isinstance(size, list | tuple) or len(size) != 3:
            raise ConfigError(f"ToFrame: sensor_size must be (W, H, P), got {size!r}")
        for name, value in zip(("W", "H", "P"), size, strict=True):
            positive_int(f"ToFrame: sensor_size {name}", value)
        if size[2] > 2:
            raise ConfigError(f"ToFrame: sensor_size P must be 1 or 2, got {size[2]}")
        object.__setattr__(self, "sensor_size", tuple(int(v) for v in size))
        for name in ("time_window", "overlap", "start_time", "end_time"):
            object.__setattr__(self, name, _whole(getattr(self, name)))
        for name in ("event_count", "n_time_bins", "n_event_bins"):
            if isinstance(getattr(self, name), np.integer):
                object.__setattr__(self, name, int(getattr(self, name)))
        chosen = [m for m in _MODES if getattr(self, m) is not None]
        if len(chosen) != 1:
            raise ConfigError(
                f"ToFrame: set exactly one of {', '.join(_MODES)}; got "
                f"{', '.join(chosen) if chosen else 'none'}"
            )
        mode = chosen[0]
        value, overlap = getattr(self, mode), self.overlap
        number("ToFrame: overlap", overlap)
        if mode == "time_window":
            number(f"ToFrame: {mode}", value)
            if value <= 0:
                raise ConfigError(f"ToFrame: time_window must be > 0 us, got {value!r}")
            if not 0 <= overlap < value:
                raise ConfigError(f"ToFrame: overlap must be in [0, time_window), got {overlap}")
        else:
            positive_int(f"ToFrame: {mode}", value)
            if mode == "event_count":
                if not isinstance(overlap, int) or not 0 <= overlap < value:
                    raise ConfigError(
                        f"ToFrame: overlap must be an int in [0, event_count), got {overlap!r}"
                    )
            elif not 0 <= overlap < 1:
                raise ConfigError(
                    f"ToFrame: overlap must be a fraction of a bin in [0, 1), got {overlap!r}"
                )
        if self.include_incomplete and mode not in ("time_window", "event_count"):
            raise ConfigError(f"ToFrame: include_incomplete has no meaning with {mode}")
        for name in ("start_time", "end_time"):
            if getattr(self, name) is not None:
                if mode != "time_window":
                    raise ConfigError(f"ToFrame: {name} needs time_window, not {mode}")
                number(f"ToFrame: {name}", getattr(self, name))
        if None not in (self.start_time, self.end_time) and self.end_time < self.start_time:
            raise ConfigError(
                f"ToFrame: end_time {self.end_time} is before start_time {self.start_time}"
            )

    def __call__(self, events: np.ndarray, *, path: object | None = None) -> np.ndarray:
        return to_frame(events, self, path=path)


def to_frame(events: np.ndarray, spec: ToFrame, *, path: object | None = None) -> np.ndarray:
    """Frame one stream (any structured array with x, y, t, p; t in microseconds, sorted).

    Returns float32 ``[T, P, H, W]``. Raises ``EventFormatError`` (naming ``path`` if given)
    for coordinates outside ``spec.sensor_size`` or timestamps that go back in time.
    """
    events = as_events(events)
    width, height, n_pol = spec.sensor_size
    # p is 0 or 1 on either sensor: with P = 1 both polarities go to the one channel
    t = check_stream(events, (width, height, 2), path)
    starts, ends = frame_bounds(t, spec)
    p = events["p"] if n_pol == 2 else None
    return accumulate(events["x"], events["y"], p, (width, height), starts, ends)


def frame_bounds(t: np.ndarray, spec: ToFrame) -> tuple[np.ndarray, np.ndarray]:
    """Event index bounds ``[start, end)`` of each frame, for sorted timestamps ``t`` (us;
    contiguous, or each search copies it: see ``check_stream``)."""
    n = len(t)
    if spec.n_time_bins is not None:
        if n == 0:
            return np.zeros(spec.n_time_bins, np.intp), np.zeros(spec.n_time_bins, np.intp)
        low, high = frame_edges(spec, int(t[0]), int(t[-1]))
        return np.searchsorted(t, low, "left"), np.searchsorted(t, high, "left")
    if spec.n_event_bins is not None:
        count = int(n // spec.n_event_bins * (1 + spec.overlap))
        stride = int(count * (1 - spec.overlap))
        starts = np.arange(spec.n_event_bins) * stride
        ends = starts + count
        ends[-1] = n  # the last bin takes the remainder
        return np.minimum(starts, n), np.minimum(ends, n)
    if spec.event_count is not None:
        rounding = math.ceil if spec.include_incomplete else math.floor
        count = min(spec.event_count, n)
        stride = spec.event_count - spec.overlap
        starts = np.arange(int(rounding((n - count) / stride)) + 1) * stride
        return np.minimum(starts, n), np.minimum(starts + count, n)
    if n == 0 and (spec.start_time is None or spec.end_time is None):
        return np.zeros(1, np.intp), np.zeros(1, np.intp)
    first, last = (int(t[0]), int(t[-1])) if n else (None, None)
    low, high = frame_edges(spec, first, last, t)
    return np.searchsorted(t, low, "left"), np.searchsorted(t, high, "left")


def frame_edges(
    spec: ToFrame, first: int | None, last: int | None, t: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per frame the timestamps ``[low, high)`` (integer microseconds) of the events it
    counts, in the time modes (``n_time_bins``, ``time_window``), for a stream whose first
    and last timestamps are ``first`` and ``last`` (None for an empty stream framed with both
    ``start_time`` and ``end_time``). Thresholds, not indices, so they apply to any part of
    the stream (chunked framing). ``t``, when given, names the event after the largest gap in
    the error for a span that would need more than ``MAX_FRAME_BYTES`` of frames.
    """
    if spec.n_time_bins is not None and spec.overlap == 0:
        # Tonic's arithmetic below, in integers: bins that follow each other
        edges = np.arange(spec.n_time_bins + 1, dtype=np.int64)
        edges *= (last - first) // spec.n_time_bins
        edges += first
        edges[-1] = last + 1  # closed last bin: up to and including t_last
        return edges[:-1], edges[1:]
    if spec.n_time_bins is not None:
        # Tonic's arithmetic, kept exactly so that the bin edges agree
        window = (last - first) // spec.n_time_bins * (1 + spec.overlap)
        offsets = np.arange(spec.n_time_bins) * (window * (1 - spec.overlap))
        low = round_up(bin_edges(first, offsets))
        high = round_up(bin_edges(first, offsets + window))
        high[-1] = last + 1  # closed last bin: up to and including t_last
        return low, high
    if spec.time_window is None:
        raise ConfigError(f"frame_edges: {spec} is not a time mode")
    rounding = math.ceil if spec.include_incomplete else math.floor
    start = first if spec.start_time is None else spec.start_time
    end = last if spec.end_time is None else spec.end_time
    stride = spec.time_window - spec.overlap
    count = max(int(rounding((end - start - spec.time_window) / stride)) + 1, 1)
    width, height, n_pol = spec.sensor_size
    needed = count * (4 * width * height * n_pol + 32)  # the frames and their index bounds
    if needed > MAX_FRAME_BYTES:
        gap = None if t is None else int(np.argmax(np.diff(t))) + 1 if len(t) > 1 else 0
        raise EventFormatError(
            f"the stream spans {end - start} us, {count} windows of time_window = "
            f"{spec.time_window} us, {needed / 2**30:.3g} GiB of frames (at most "
            f"{MAX_FRAME_BYTES / 2**30:.0f} GiB); a timestamp is probably corrupt (the largest "
            "gap ends at this event), or use a larger time_window",
            index=gap,
        )
    offsets = np.arange(count) * stride
    low = round_up(bin_edges(start, offsets))
    high = round_up(bin_edges(start, offsets + spec.time_window))
    if spec.include_incomplete:  # the span is the closed interval [start, end]
        high[-1] = max(int(high[-1]), math.floor(end) + 1)
    return low, high


@dataclass(frozen=True)
class ExtentFrames(Spec):
    """``n_time_bins`` frames over the sample's own extent, resized to ``size`` (H, W).

    For recordings whose sensor size varies or is unknown (CEP-DVS): the plane is
    ``(max x + 1, max y + 1)`` of the sample, binned like ``ToFrame(n_time_bins=T)`` (no
    event dropped), then bilinearly resized (antialiased by default, so counts are averaged
    rather than sampled). Output float32 ``[T, 2, size[0], size[1]]``; an empty stream gives
    zeros.
    """

    n_time_bins: int
    size: tuple[int, int] = (48, 48)
    antialias: bool = True

    def __post_init__(self) -> None:
        steps = positive_int("ExtentFrames: n_time_bins", self.n_time_bins)
        object.__setattr__(self, "n_time_bins", steps)
        object.__setattr__(self, "size", size_pair("ExtentFrames: size", self.size))

    def __call__(self, events: np.ndarray, *, path: object | None = None) -> np.ndarray:
        events = as_events(events)
        if len(events) == 0:
            return np.zeros((self.n_time_bins, 2, *self.size), np.float32)
        check_stream(events, (None, None, 2), path)
        plane = (int(events["x"].max()) + 1, int(events["y"].max()) + 1, 2)
        frames = ToFrame(sensor_size=plane, n_time_bins=self.n_time_bins)(events, path=path)
        return resize(frames, self.size, antialias=self.antialias)
