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
  timestamp causes, instead of allocating without bound. Bin edges are exact integers however large ``t`` is.

``PaperFrames`` reproduces the reference implementation's framing for parity runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from snn_transfer.errors import ConfigError, EventFormatError
from snn_transfer.events.core import SensorSize, as_events, validate_events
from snn_transfer.events.spec import Spec


def _whole(value: Any) -> Any:
    """Integral floats and numpy ints become ints, so equal specs print and fingerprint alike."""
    if isinstance(value, np.integer) or (isinstance(value, float) and value.is_integer()):
        return int(value)
    return value


MAX_TIMESTAMP = 2**62  # us; keeps t + window and the bin edges inside int64
MAX_FRAME_BYTES = 2**34  # bytes of frames one stream may need in time_window mode


def _positive_int(owner: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ConfigError(f"{owner}: {name} must be a positive int, got {value!r}")


def _number(owner: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ConfigError(f"{owner}: {name} must be a number, got {value!r}")


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
            _positive_int("ToFrame", f"sensor_size {name}", value)
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
        _number("ToFrame", "overlap", overlap)
        if mode == "time_window":
            _number("ToFrame", mode, value)
            if value <= 0:
                raise ConfigError(f"ToFrame: time_window must be > 0 us, got {value!r}")
            if not 0 <= overlap < value:
                raise ConfigError(f"ToFrame: overlap must be in [0, time_window), got {overlap}")
        else:
            _positive_int("ToFrame", mode, value)
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
                _number("ToFrame", name, getattr(self, name))
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
    _check_events(events, (width, height, 2), path)
    starts, ends = frame_bounds(events["t"], spec)
    p = events["p"] if n_pol == 2 else None
    return _accumulate(events["x"], events["y"], p, (width, height), starts, ends)


def frame_bounds(t: np.ndarray, spec: ToFrame) -> tuple[np.ndarray, np.ndarray]:
    """Event index bounds ``[start, end)`` of each frame, for sorted timestamps ``t`` (us)."""
    n = len(t)
    if spec.n_time_bins is not None:
        return _time_bins(t, spec.n_time_bins, spec.overlap)
    if spec.n_event_bins is not None:
        count = int(n // spec.n_event_bins * (1 + spec.overlap))
        stride = int(count * (1 - spec.overlap))
        starts = np.arange(spec.n_event_bins) * stride
        ends = starts + count
        ends[-1] = n  # the last bin takes the remainder
        return np.minimum(starts, n), np.minimum(ends, n)
    rounding = math.ceil if spec.include_incomplete else math.floor
    if spec.event_count is not None:
        count = min(spec.event_count, n)
        stride = spec.event_count - spec.overlap
        starts = np.arange(int(rounding((n - count) / stride)) + 1) * stride
        return np.minimum(starts, n), np.minimum(starts + count, n)
    return _time_windows(t, spec, rounding)


def _time_bins(t: np.ndarray, n_bins: int, overlap: float) -> tuple[np.ndarray, np.ndarray]:
    if len(t) == 0:
        return np.zeros(n_bins, np.intp), np.zeros(n_bins, np.intp)
    # Tonic's arithmetic, kept exactly so that the bin edges agree
    origin = int(t[0])
    window = (int(t[-1]) - origin) // n_bins * (1 + overlap)
    offsets = np.arange(n_bins) * (window * (1 - overlap))
    starts = _search(t, _edges(origin, offsets), "left")
    ends = _search(t, _edges(origin, offsets + window), "left")
    ends[-1] = len(t)  # closed last bin: up to and including t_last
    return starts, ends


def _time_windows(t: np.ndarray, spec: ToFrame, rounding) -> tuple[np.ndarray, np.ndarray]:
    if len(t) == 0 and (spec.start_time is None or spec.end_time is None):
        return np.zeros(1, np.intp), np.zeros(1, np.intp)
    start = int(t[0]) if spec.start_time is None else spec.start_time
    end = int(t[-1]) if spec.end_time is None else spec.end_time
    stride = spec.time_window - spec.overlap
    count = max(int(rounding((end - start - spec.time_window) / stride)) + 1, 1)
    width, height, n_pol = spec.sensor_size
    needed = count * (4 * width * height * n_pol + 32)  # the frames and their index bounds
    if needed > MAX_FRAME_BYTES:
        gap = int(np.argmax(np.diff(t))) + 1 if len(t) > 1 else 0
        raise EventFormatError(
            f"the stream spans {end - start} us, {count} windows of time_window = "
            f"{spec.time_window} us, {needed / 2**30:.3g} GiB of frames (at most "
            f"{MAX_FRAME_BYTES / 2**30:.0f} GiB); a timestamp is probably corrupt (the largest "
            "gap ends at this event), or use a larger time_window",
            index=gap,
        )
    offsets = np.arange(count) * stride
    starts = _search(t, _edges(start, offsets), "left")
    ends = _search(t, _edges(start, offsets + spec.time_window), "left")
    if spec.include_incomplete:  # the span is the closed interval [start, end]
        ends[-1] = max(ends[-1], _search(t, np.array([end]), "right")[0])
    return starts, ends


def _edges(origin: float, offsets: np.ndarray) -> np.ndarray:
    """``origin + offsets`` as searched from the left. Past 2**52 us, where a float64 is too
    coarse, an integer origin is added to the rounded-up offsets, so edges stay exact
    integers; below it the float sum is kept (Tonic's arithmetic, bit for bit)."""
    exact = isinstance(origin, int | np.integer) and offsets.dtype.kind == "f"
    if exact and abs(int(origin)) + float(np.abs(offsets).max(initial=0)) >= 2**52:
        return int(origin) + np.ceil(offsets).astype(np.int64)
    return offsets + origin


def _search(t: np.ndarray, values: np.ndarray, side: str) -> np.ndarray:
    """``np.searchsorted`` for integer ``t`` without casting all of ``t`` to float."""
    values = np.asarray(values)
    if values.dtype.kind == "f":
        values = (np.ceil(values) if side == "left" else np.floor(values)).astype(np.int64)
    return np.searchsorted(t, values, side=side)


def _accumulate(
    x: np.ndarray,
    y: np.ndarray,
    p: np.ndarray | None,
    plane: tuple[int, int],
    starts: np.ndarray,
    ends: np.ndarray,
) -> np.ndarray:
    """Counts of events ``[starts[i], ends[i])`` per pixel into frame ``i``.

    ``p`` None merges polarities into one channel. Coordinates must be valid.
    """
    width, height = plane
    n_pol = 1 if p is None else 2
    size = n_pol * height * width
    frames = np.empty((len(starts), n_pol, height, width), np.float32)
    flat = frames.reshape(len(starts), size)
    # one slice at a time keeps the index array in cache and handles overlapping frames
    for i, (a, b) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        index = np.multiply(y[a:b], width, dtype=np.intp)
        index += x[a:b]
        if p is not None:
            index += np.multiply(p[a:b], height * width, dtype=np.intp)
        flat[i] = np.bincount(index, minlength=size)
    return frames


def _check_events(
    events: np.ndarray, limits: tuple[int | None, int | None, int], path: object | None
) -> None:
    """Raise ``EventFormatError`` unless 0 <= x < W, 0 <= y < H, 0 <= p < P and t is sorted.

    One pass per field: viewed as unsigned, negative values are huge, so ``max`` alone checks
    both bounds. On failure the detailed check names the first bad event.
    """
    if len(events) == 0:
        return
    t = events["t"]
    ok = bool(t[0] >= 0) and not bool((t[1:] < t[:-1]).any())
    if ok and int(t[-1]) >= MAX_TIMESTAMP:
        raise EventFormatError(
            f"timestamp {int(t[-1])} us is not below 2**62 us; the stream's timestamps are "
            "corrupt or not in microseconds",
            path=path,
            index=int(np.searchsorted(t, MAX_TIMESTAMP)),
        )
    for name, kind, limit in zip("xyp", (np.uint16, np.uint16, np.uint8), limits, strict=True):
        bound = np.iinfo(kind).max // 2 + 1 if limit is None else limit  # None: only >= 0
        ok = ok and int(events[name].view(kind).max()) < bound
    if not ok:
        validate_events(events, limits, sorted_time=True, path=path)  # type: ignore[arg-type]
        raise EventFormatError("malformed events", path=path)


@dataclass(frozen=True)
class PaperFrames(Spec):
    """The reference implementation's framing, for runs that compare with its numbers.

    Per sample: x and y shifted to start at 0 (``shift_xy``, as for N-Caltech101); sensor
    size inferred as ``(max x + 1, max y + 1, 2)``; ``n_time_bins`` half-open bins of
    ``window`` microseconds starting at the first timestamp; raw counts per polarity; then
    bilinear resize to ``size`` (H, W) with ``align_corners=True`` and T as the batch axis.

    ``window`` is ``(t_last - t_first) // T``, i.e. timestamps shifted to start at 0 first.
    The reference's Tonic fork computes ``t_last // T`` on the raw timestamps
    (``slice_by_time_bins``: ``times[-1] // bin_count``, bins from ``times[0]``);
    ``fork_window=True`` does exactly that. Both agree when the first timestamp is 0.
    Either way events from ``t_first + T * window`` on are dropped, as the reference drops
    them, and streams shorter than T microseconds give empty frames. An empty stream gives
    zeros. Output float32 ``[T, 2, size[0], size[1]]``.
    """

    n_time_bins: int
    size: tuple[int, int] = (48, 48)
    shift_xy: bool = True
    fork_window: bool = False

    def __post_init__(self) -> None:
        _positive_int("PaperFrames", "n_time_bins", self.n_time_bins)
        size = (self.size, self.size) if isinstance(self.size, int) else self.size
        if not isinstance(size, list | tuple) or len(size) != 2:
            raise ConfigError(f"PaperFrames: size must be (H, W), got {self.size!r}")
        for value in size:
            _positive_int("PaperFrames", "size", value)
        object.__setattr__(self, "size", tuple(int(v) for v in size))

    def __call__(self, events: np.ndarray, *, path: object | None = None) -> np.ndarray:
        return paper_frames(events, self, path=path)


def paper_frames(
    events: np.ndarray, spec: PaperFrames, *, path: object | None = None
) -> np.ndarray:
    """Frame one stream as the reference does (see ``PaperFrames``): float32 [T, 2, H, W]."""
    import torch
    import torch.nn.functional as F

    events = as_events(events)
    _check_events(events, (None, None, 2), path)
    n_bins = spec.n_time_bins
    if len(events) == 0:
        return np.zeros((n_bins, 2, *spec.size), np.float32)
    x, y, t = events["x"], events["y"], events["t"]
    if spec.shift_xy:
        x, y = x - x.min(), y - y.min()
    plane = (int(x.max()) + 1, int(y.max()) + 1)
    window = (t[-1] - (0 if spec.fork_window else t[0])) // n_bins
    begin = t[0] + np.arange(n_bins) * window
    starts = np.searchsorted(t, begin)
    ends = np.searchsorted(t, begin + window)
    counts = _accumulate(x, y, events["p"], plane, starts, ends)
    resized = F.interpolate(
        torch.from_numpy(counts), size=spec.size, mode="bilinear", align_corners=True
    )
    return resized.numpy()
