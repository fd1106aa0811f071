"""The counting core every framing shares: validate a stream, add its events into frames.

* :func:`check_stream`: coordinates inside the sensor, timestamps sorted and in
  ``[0, MAX_TIMESTAMP)`` microseconds; a bad stream raises ``EventFormatError`` naming the
  first bad event.
* :func:`accumulate`: event counts per polarity and pixel of the index ranges
  ``[starts[i], ends[i])`` into frame ``i``: float32 ``[F, P, H, W]``.
* :func:`bin_edges` and :func:`round_up`: bin edges ``origin + offsets`` in microseconds
  that stay exact integers for any timestamp, and edges as the integer thresholds that
  ``np.searchsorted`` compares event timestamps with.
"""

from __future__ import annotations

import numpy as np

from snn_transfer.errors import EventFormatError
from snn_transfer.events.core import validate_events

MAX_TIMESTAMP = 2**62  # us; keeps t + window and the bin edges inside int64


def check_stream(
    events: np.ndarray, limits: tuple[int | None, int | None, int], path: object | None
) -> None:
    """Raise ``EventFormatError`` unless 0 <= x < W, 0 <= y < H, 0 <= p < P and t is sorted
    (``limits`` = ``(W, H, P)``; None: only >= 0).

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
    frames = np.empty((len(starts), n_pol, height, width), np.float32)
    flat = frames.reshape(len(starts), size)
    # one slice at a time keeps the index array in cache and handles overlapping frames
    for i, (a, b) in enumerate(
        zip(np.asarray(starts).tolist(), np.asarray(ends).tolist(), strict=True)
    ):
        index = np.multiply(y[a:b], width, dtype=np.intp)
        index += x[a:b]
        if p is not None:
            index += np.multiply(p[a:b], height * width, dtype=np.intp)
        flat[i] = np.bincount(index, minlength=size)
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
