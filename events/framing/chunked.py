"""Frame an event file chunk by chunk, for files larger than memory.

``frame_file(path, spec)`` equals ``to_frame(read_events(path).events, spec)`` for every
``ToFrame`` mode, but never holds the whole stream: it reads the file twice through
``iter_events``, first for the event count and the first and last timestamps (what the bin
edges depend on), then to add each chunk's events into the frames.

Memory bound: about ``chunk_size * 40`` bytes (one chunk of 16-byte events, its pixel index
and sort-free search results) plus twice the frames (``2 * 4 * T * P * H * W`` bytes: the
result and one chunk's contribution), whatever the file's size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from snn_transfer.errors import EventFormatError
from snn_transfer.events.core import SensorSize
from snn_transfer.events.framing.counting import accumulate, check_stream
from snn_transfer.events.framing.to_frame import ToFrame, frame_bounds, frame_edges, to_frame
from snn_transfer.events.io.formats import DEFAULT_CHUNK_SIZE, iter_events


def _chunks(path, format, chunk_size, sensor_size, limits):
    """``(offset, chunk)`` pairs, each chunk checked like ``to_frame`` checks a stream, with
    the error's event index counted in the whole file."""
    offset, last_t = 0, None
    for chunk in iter_events(path, format, chunk_size, sensor_size=sensor_size):
        if not len(chunk):
            continue
        try:
            check_stream(chunk, limits, path)
        except EventFormatError as error:
            index = None if error.index is None else error.index + offset
            raise EventFormatError(error.problem, path=path, index=index) from None
        if last_t is not None and chunk["t"][0] < last_t:
            raise EventFormatError(
                f"timestamp goes back in time ({last_t} -> {int(chunk['t'][0])} us)",
                path=path,
                index=offset,
            )
        last_t = int(chunk["t"][-1])
        yield offset, chunk
        offset += len(chunk)


def frame_file(
    path: str | Path,
    spec: ToFrame,
    *,
    format: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    sensor_size: SensorSize | None = None,
) -> np.ndarray:
    """Frames ``[T, P, H, W]`` float32 of the file ``path``, read ``chunk_size`` events at a
    time (see the module docstring for the memory bound). Raises ``EventFormatError`` naming
    the file and the event index (in the whole file) for the streams ``to_frame`` refuses."""
    width, height, n_pol = spec.sensor_size
    limits = (width, height, 2)
    n, first, last = 0, None, None
    for _, chunk in _chunks(path, format, chunk_size, sensor_size, limits):
        first = int(chunk["t"][0]) if first is None else first
        last, n = int(chunk["t"][-1]), n + len(chunk)
    if n == 0:
        return to_frame(np.zeros(0, [("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "i1")]), spec)
    # the whole-stream checks on the span (a corrupt timestamp) and the event-mode bounds need
    # only the first and last timestamps and the count: a zero-stride view stands for t
    t_view = np.broadcast_to(np.int64(first), (n,))
    if spec.time_window is not None or spec.n_time_bins is not None:
        low, high = frame_edges(spec, first, last)
        global_bounds = None
    else:
        global_bounds = frame_bounds(t_view, spec)
    frames = None
    for offset, chunk in _chunks(path, format, chunk_size, sensor_size, limits):
        if global_bounds is None:
            starts = np.searchsorted(chunk["t"], low, side="left")
            ends = np.searchsorted(chunk["t"], high, side="left")
        else:
            starts = np.clip(global_bounds[0] - offset, 0, len(chunk))
            ends = np.clip(global_bounds[1] - offset, 0, len(chunk))
        p = chunk["p"] if n_pol == 2 else None
        part = accumulate(chunk["x"], chunk["y"], p, (width, height), starts, ends)
        if frames is None:
            frames = part
        else:
            frames += part
    return frames
