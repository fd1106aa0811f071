"""The counting core every framing shares: validate a stream, add its events into frames.

* :func:`check_stream`: coordinates inside the sensor, timestamps sorted and in
  ``[0, MAX_TIMESTAMP)`` microseconds; a bad stream raises ``EventFormatError`` naming the
  first bad event. It returns the timestamps as one contiguous copy, which the bin search
  reuses (searching a field of a structured array copies it on every call).
* :func:`accumulate`: event counts per polarity and pixel of the index ranges
  ``[starts[i], ends[i])`` into frame ``i``: float32 ``[F, P, H, W]``.
* :func:`bin_edges` and :func:`round_up`: bin edges ``origin + offsets`` in microseconds
  that stay exact integers for any timestamp, and edges as the integer thresholds that
  ``np.searchsorted`` compares event timestamps with.

Small recordings (N-MNIST: about 4,000 events) cost what numpy's per-call overhead costs,
not what the counting costs, so the number of numpy calls per stream is kept small and
independent of the number of frames: frames that split a stream into consecutive ranges are
counted in one pass over all of them.
"""

from __future__ import annotations

import numpy as np

from snn_transfer.errors import EventFormatError
from snn_transfer.events.core import validate_events

MAX_TIMESTAMP = 2**62  # us; keeps t + window and the bin edges inside int64
#: up to this many events, consecutive frames are counted in one pass (its index, 8 bytes an
#: event, stays in cache); above it one frame at a time is faster
SINGLE_PASS_EVENTS = 2**18
# (field, the unsigned type of its size, the bound of non-negative values viewed as it)
_UNSIGNED = (("x", np.uint16, 2**15), ("y", np.uint16, 2**15), ("p", np.uint8, 2**7))


def check_stream(
    events: np.ndarray, limits: tuple[int | None, int | None, int], path: object | None
) -> np.ndarray:
    """Raise ``EventFormatError`` unless 0 <= x < W, 0 <= y < H, 0 <= p < P and t is sorted
    (``limits`` = ``(W, H, P)``; None: only >= 0). Returns the timestamps as a contiguous
    int64 array (a copy: callers may search it, never write to it).

    One pass per field: viewed as unsigned, negative values are huge, so ``max`` alone checks
    both bounds. On failure the detailed check names the first bad event.
    """
    # a field of a packed structured array is strided and unaligned: numpy's loops on it
    # are several times slower than one copy followed by the aligned loops
    t = np.ascontiguousarray(events["t"])
    if len(t) == 0:
        return t
    ok = bool(t[0] >= 0) and not np.count_nonzero(t[1:] < t[:-1])
    if ok and int(t[-1]) >= MAX_TIMESTAMP:
        raise EventFormatError(
            f"timestamp {int(t[-1])} us is not below 2**62 us; the stream's timestamps are "
            "corrupt or not in microseconds",
            path=path,
            index=int(np.searchsorted(t, MAX_TIMESTAMP)),
        )
    for (name, kind, nonnegative), limit in zip(_UNSIGNED, limits, strict=True):
        bound = nonnegative if limit is None else limit  # None: only >= 0
        ok = ok and int(np.maximum.reduce(events[name].view(kind))) < bound
    if not ok:
        validate_events(events, limits, sorted_time=True, path=path)  # type: ignore[arg-type]
        raise EventFormatError("malformed events", path=path)
    return t


def accumulate(
    x: np.ndarray,
    y: np.ndarray,
    p: np.ndarray | None,
    plane: tuple[int, int],
    starts: np.ndarray,
    ends: np.ndarray,
) -> np.ndarray:
    """Counts of events ``[starts[i], ends[i])`` per pixel into frame ``i``: float32
    ``[len(starts), P, H, W]`` for ``plane = (W, H)``.

    ``p`` None merges polarities into one channel (P = 1). Coordinates must be valid
    (:func:`check_stream`).
    """
    width, height = plane
    n_pol = 1 if p is None else 2
    size = n_pol * height * width
    starts, ends = np.asarray(starts), np.asarray(ends)
    n_frames = len(starts)
    if (
        n_frames
        and int(ends[-1]) - int(starts[0]) <= SINGLE_PASS_EVENTS
        and not np.count_nonzero(starts[1:] != ends[:-1])
    ):
        return _count_consecutive(x, y, p, plane, starts, ends)
    frames = np.empty((n_frames, n_pol, height, width), np.float32)
    flat = frames.reshape(n_frames, size)
    # one slice at a time keeps the index array in cache and handles overlapping frames
    for i, (a, b) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        index = np.multiply(y[a:b], width, dtype=np.intp)
        index += x[a:b]
        if p is not None:
            index += np.multiply(p[a:b], height * width, dtype=np.intp)
        flat[i] = np.bincount(index, minlength=size)
    return frames


def _count_consecutive(
    x: np.ndarray,
    y: np.ndarray,
    p: np.ndarray | None,
    plane: tuple[int, int],
    starts: np.ndarray,
    ends: np.ndarray,
) -> np.ndarray:
    """:func:`accumulate` of frames that follow each other (``starts[i + 1] == ends[i]``):
    one index over frame, polarity, row and column, counted by one ``np.add.at``."""
    width, height = plane
    n_pol = 1 if p is None else 2
    n_frames = len(starts)
    a, b = int(starts[0]), int(ends[-1])
    index = np.repeat(np.arange(n_frames, dtype=np.intp), ends - starts)
    if p is not None:
        index *= 2
        index += p[a:b]
    index *= height
    index += y[a:b]
    index *= width
    index += x[a:b]
    # float32 adds of 1 are exact up to 2**24, far above SINGLE_PASS_EVENTS; unlike
    # np.bincount, no int64 counts to zero and convert
    frames = np.zeros((n_frames, n_pol, height, width), np.float32)
    np.add.at(frames.reshape(-1), index, np.float32(1))
    return frames


def bin_edges(origin: float, offsets: np.ndarray) -> np.ndarray:
    """``origin + offsets`` as searched from the left. Past 2**52 us, where a float64 is too
    coarse, an integer origin is added to the rounded-up offsets, so edges stay exact
    integers; below it the float sum is kept (Tonic's arithmetic, bit for bit)."""
    exact = isinstance(origin, int | np.integer) and offsets.dtype.kind == "f"
    if exact and abs(int(origin)) + float(np.abs(offsets).max(initial=0)) >= 2**52:
        return int(origin) + np.ceil(offsets).astype(np.int64)
    return offsets + origin


def round_up(edges: np.ndarray) -> np.ndarray:
    """Edges as integer thresholds: an event at ``t`` (an integer) is at or after edge ``e``
    exactly when ``t >= round_up(e)``, so ``np.searchsorted`` never casts ``t`` to float."""
    edges = np.asarray(edges)
    return np.ceil(edges).astype(np.int64) if edges.dtype.kind == "f" else edges
