"""ATIS 40-bit ``.bin`` files (N-MNIST, N-Caltech101).

A headerless sequence of 5-byte records, one per event:

====  ===========================================
byte  content
====  ===========================================
0     x (uint8)
1     y (uint8)
2     ``p << 7 | t[22:16]`` (p: 1 = ON)
3     ``t[15:8]``
4     ``t[7:0]``
====  ===========================================

Timestamps are microseconds from a 23-bit counter. A record with ``y == 240`` (a row the
240-row ATIS sensor does not have) marks that the counter wrapped: every later timestamp
gets ``2**23`` more per marker, and the markers are dropped. Tonic (like event-Python, where
its reader comes from) adds ``2**13`` per marker instead; that is not the counter's period,
so timestamps after a marker jump *backwards* by almost 8.4 s. We add ``2**23``, which keeps
the stream continuous and sorted. Real N-MNIST / N-Caltech101 recordings last about 0.3 s
and contain no markers, so both readers agree on them.

The format declares no sensor size (N-MNIST is 34x34, N-Caltech101 recordings at most
240x180); pass ``sensor_size`` to check coordinates. A 0-byte file is a valid empty
stream. Recordings are time-sorted; a decreasing timestamp raises ``EventFormatError``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import numpy as np

from snn_transfer.atomic import atomic_output
from snn_transfer.errors import EventFormatError
from snn_transfer.events.core import EVENT_DTYPE, SensorSize
from snn_transfer.events.io.base import (
    EventRecording,
    PathLike,
    StreamChecker,
    check_chunk_size,
    check_readable,
    events_for_writing,
    normalise_sensor_size,
    read_bytes,
)

RECORD_BYTES = 5
OVERFLOW_Y = 240
TIME_BITS = 23
TIME_PERIOD = 1 << TIME_BITS  # microseconds the counter covers before it wraps
_TIME_MASK = np.uint32(TIME_PERIOD - 1)

DEFAULT_CHUNK_EVENTS = 1 << 20
#: records ``read_atis`` decodes at a time: a block's temporaries stay in cache while its
#: events are written
BLOCK_RECORDS = 1 << 15


def _first_decrease(t: np.ndarray) -> int:
    """Index of the first element smaller than its predecessor, or -1 (``t`` contiguous)."""
    if len(t) > 1 and bool(np.any(t[1:] < t[:-1])):
        return int(np.flatnonzero(t[1:] < t[:-1])[0]) + 1
    return -1


def _decode(raw: np.ndarray, overflows_before: int) -> tuple[np.ndarray, np.ndarray, int]:
    """``decode_atis`` plus the index of the first decreasing timestamp (or -1), found on
    the contiguous timestamp array before it is spread into the structured output."""
    n = len(raw) // RECORD_BYTES
    records = raw[: n * RECORD_BYTES].reshape(n, RECORD_BYTES)
    markers = records[:, 1] == OVERFLOW_Y
    if n:
        # bytes 1..4 read as one big-endian uint32: the low 23 bits are the timestamp
        packed = np.ndarray((n,), dtype=">u4", buffer=raw, offset=1, strides=(RECORD_BYTES,))
        t = np.bitwise_and(packed, _TIME_MASK, dtype=np.uint32)
    else:
        t = np.zeros(0, dtype=np.uint32)
    if overflows_before or markers.any():
        keep = ~markers
        wraps = np.cumsum(markers, dtype=np.int64) + overflows_before
        t = t[keep] + wraps[keep] * TIME_PERIOD
        records = records[keep]
    events = np.empty(len(records), dtype=EVENT_DTYPE)
    events["x"] = records[:, 0]
    events["y"] = records[:, 1]
    np.right_shift(records[:, 2], 7, out=events["p"].view(np.uint8))
    events["t"] = t
    return events, markers, _first_decrease(t)


def decode_atis(raw: np.ndarray, overflows_before: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Decode whole 5-byte records into events, dropping overflow markers.

    Args:
        raw: contiguous uint8 array, length a multiple of 5.
        overflows_before: markers seen earlier in the file (for chunked reading).

    Returns:
        ``(events, markers)``: ``EVENT_DTYPE`` array of the non-marker records with
        ``t`` in microseconds (``2**23`` added per earlier marker), and the boolean
        marker mask over the records (length ``len(raw) // 5``).
    """
    events, markers, _ = _decode(raw, overflows_before)
    return events, markers


def _record_offsets(
    markers: np.ndarray, first_record: int, first_event: int = 0
) -> Callable[[int], int]:
    """Map an event index in the file to the byte offset of its record, for events of a
    chunk whose records start at ``first_record`` and whose first event is
    ``first_event``."""

    def offset_of(index: int) -> int:
        records = np.flatnonzero(~markers)
        return (first_record + int(records[index - first_event])) * RECORD_BYTES

    return offset_of


def _check_size(path, size: int) -> None:
    extra = size % RECORD_BYTES
    if extra:
        start = size - extra
        raise EventFormatError(
            f"truncated ATIS file: {size} bytes is not a multiple of {RECORD_BYTES}; the last "
            f"record has only {extra} byte(s) (a damaged copy? re-extract it from the archive)",
            path=path,
            offset=start,
        )


def _raise_decrease(path, events: np.ndarray, i: int, offset: int) -> None:
    raise EventFormatError(
        f"timestamp goes back in time ({int(events['t'][i - 1])} -> {int(events['t'][i])} us); "
        "ATIS recordings are time-sorted, so the file is damaged",
        path=path,
        offset=offset,
        index=i,
    )


def _limits(sensor_size: SensorSize | None) -> tuple[int, int] | None:
    """``(x_limit, y_limit)`` a clean stream stays below (y below the marker row too), or
    None for a one-polarity sensor, where any ON event is outside."""
    if sensor_size is None:
        return 256, OVERFLOW_Y
    if sensor_size[2] < 2:
        return None
    return sensor_size[0], min(sensor_size[1], OVERFLOW_Y)


def _decode_clean(raw: np.ndarray, sensor_size: SensorSize | None) -> np.ndarray | None:
    """The events of the whole records in ``raw`` if the stream is the usual one: no
    overflow marker (every y below 240), timestamps sorted and, for a ``sensor_size`` with
    two polarities, every coordinate inside it. Otherwise None: ``_decode`` and the checks
    then find and name the problem.

    ``BLOCK_RECORDS`` records at a time, with the few numpy calls a block needs, so that a
    small file costs little more than its read.
    """
    n = len(raw) // RECORD_BYTES
    if n == 0:
        return np.empty(0, dtype=EVENT_DTYPE)
    limits = _limits(sensor_size)
    if limits is None:
        return None
    x_limit, y_limit = limits
    records = raw[: n * RECORD_BYTES].reshape(n, RECORD_BYTES)
    # bytes 1..4 read as one big-endian uint32: y in the top byte, then p and the timestamp
    packed = np.ndarray((n,), dtype=">u4", buffer=raw, offset=1, strides=(RECORD_BYTES,))
    y_bound = np.uint32(y_limit << 24)  # all y < y_limit exactly when all packed values are below
    events = np.empty(n, dtype=EVENT_DTYPE)
    last = 0
    for start in range(0, n, BLOCK_RECORDS):
        if n <= BLOCK_RECORDS:  # one block: no slices (a file of N-MNIST's size)
            block, native, out = records, packed.astype(np.uint32), events
        else:
            stop = min(start + BLOCK_RECORDS, n)
            block, out = records[start:stop], events[start:stop]
            native = packed[start:stop].astype(np.uint32)
        # native: one byte-swapping copy, then every loop runs on aligned values
        if np.maximum.reduce(native) >= y_bound or (
            x_limit < 256 and np.maximum.reduce(block[:, 0]) >= x_limit
        ):
            return None
        t = np.bitwise_and(native, _TIME_MASK)
        if (start and t[0] < last) or np.count_nonzero(t[1:] < t[:-1]):
            return None
        last = t[-1]
        out["x"] = block[:, 0]
        out["y"] = block[:, 1]
        np.right_shift(block[:, 2], 7, out=out["p"].view(np.uint8))
        out["t"] = t
    return events


def _decode_loop(raw: np.ndarray, out: np.ndarray, x_limit: int, y_limit: int) -> int:
    """Decode the whole 5-byte records of ``raw`` into ``out`` (``EVENT_DTYPE``, one slot
    per record) in one pass, checking as it goes: returns -1 when every record has
    ``x < x_limit``, ``y < y_limit`` (so no overflow marker for a limit of at most 240) and
    timestamps never decrease, otherwise the index of the first record that breaks one of
    them (``out`` is then partly written). Compiled by :func:`_compiled_decoder`."""
    last = 0
    for i in range(len(raw) // RECORD_BYTES):
        r = RECORD_BYTES * i
        x, y, high = raw[r], raw[r + 1], raw[r + 2]
        t = ((high & 0x7F) << 16) | (raw[r + 3] << 8) | raw[r + 4]
        if x >= x_limit or y >= y_limit or t < last:
            return i
        last = t
        event = out[i]
        event.x = x
        event.y = y
        event.t = t
        event.p = high >> 7
    return -1


@functools.cache
def _compiled_decoder() -> Callable[[np.ndarray, np.ndarray, int, int], int] | None:
    """``_decode_loop`` compiled by numba (cached on disk after the first process), or None
    when numba cannot be imported: ``_decode_clean`` then does the same with numpy.

    One compiled pass costs about a fifth of the dozen numpy calls it replaces on a file of
    N-MNIST's size (4,300 events), where per-call overhead is most of the work, and stays
    ahead on large files (one pass over the bytes, no temporaries). numba is imported here,
    on the first read, not when the package is imported.
    """
    try:
        import numba
    except ImportError:  # pragma: no cover - numba comes with the package's dependencies
        return None
    return numba.njit(cache=True, nogil=True, boundscheck=False)(_decode_loop)


def _decode_fast(raw: np.ndarray, sensor_size: SensorSize | None) -> np.ndarray | None:
    """What ``_decode_clean`` returns, with the compiled decoder when there is one."""
    decoder, limits = _compiled_decoder(), _limits(sensor_size)
    if decoder is None or limits is None:
        return _decode_clean(raw, sensor_size)
    events = np.empty(len(raw) // RECORD_BYTES, dtype=EVENT_DTYPE)
    return events if decoder(raw, events, *limits) < 0 else None


def read_atis(path: PathLike, *, sensor_size: SensorSize | None = None) -> EventRecording:
    """Read a whole ATIS ``.bin`` file.

    Args:
        path: the ``.bin`` file.
        sensor_size: ``(W, H, P)`` to check coordinates against, or ``None`` (the format
            declares none; x and y are then only known to be below 256).

    Returns:
        ``EventRecording`` with ``[N]`` ``EVENT_DTYPE`` events, t in microseconds, and the
        given ``sensor_size``.

    Raises:
        EventFormatError: truncated record, decreasing timestamp, or a coordinate outside
            ``sensor_size``; the message names the byte offset and event index.
    """
    path, raw = read_bytes(path)
    size = normalise_sensor_size(sensor_size)
    _check_size(path, len(raw))
    events = _decode_fast(raw, size)
    if events is not None:
        return EventRecording(events, size, "atis", path)
    events, markers, back = _decode(raw, 0)
    if size is None:
        # x, y < 256 and p in {0, 1} by construction: only the order can be wrong
        if back >= 0:
            _raise_decrease(path, events, back, _record_offsets(markers, 0)(back))
    else:
        StreamChecker(path, size, _record_offsets(markers, 0)).check(events)
    return EventRecording(events, size, "atis", path)


def iter_atis(
    path: PathLike,
    chunk_events: int = DEFAULT_CHUNK_EVENTS,
    *,
    sensor_size: SensorSize | None = None,
) -> Iterator[np.ndarray]:
    """Yield the events of an ATIS ``.bin`` file in chunks of at most ``chunk_events``.

    Reads ``chunk_events`` records at a time, so memory stays bounded by the chunk size
    however large the file. Overflow markers and the time order are carried across chunks:
    the concatenated chunks equal ``read_atis(path).events``. A chunk may be shorter than
    ``chunk_events`` (markers are dropped), and none is empty.

    Yields:
        ``EVENT_DTYPE`` arrays, shape ``[n <= chunk_events]``, t in microseconds.
    """
    path = check_readable(path)
    chunk_events = check_chunk_size(chunk_events)
    size = normalise_sensor_size(sensor_size)
    file_size = path.stat().st_size
    _check_size(path, file_size)
    checker = StreamChecker(path, size)
    overflows = 0
    first_record = 0
    with open(path, "rb") as file:
        while True:
            raw = np.fromfile(file, dtype=np.uint8, count=chunk_events * RECORD_BYTES)
            if len(raw) == 0:
                return
            _check_size(path, len(raw))  # the file shrank while we read it
            events, markers = decode_atis(raw, overflows)
            overflows += int(np.count_nonzero(markers))
            checker.offset_of = _record_offsets(markers, first_record, checker.count)
            first_record += len(markers)
            if len(events):
                yield checker.check(events)


def encode_atis(events: np.ndarray) -> np.ndarray:
    """Encode events as ``[N, 5]`` uint8 ATIS records, inserting an overflow marker
    wherever ``t`` crosses a multiple of ``2**23`` (so ``decode_atis`` gives ``t`` back).

    Args:
        events: ``EVENT_DTYPE`` (or convertible), time-sorted, ``0 <= x, y < 256``,
            ``y != 240``, ``t >= 0`` in microseconds.
    """
    events = events_for_writing(events, None)
    x, y, t, p = (events[f].astype(np.int64) for f in "xytp")
    if len(events) and (x.max() > 255 or y.max() > 255):
        raise EventFormatError("ATIS records hold x and y below 256")
    if np.any(y == OVERFLOW_Y):
        i = int(np.flatnonzero(y == OVERFLOW_Y)[0])
        raise EventFormatError(
            f"y = {OVERFLOW_Y} is the ATIS overflow marker and cannot be an event", index=i
        )
    period = t // TIME_PERIOD
    # markers needed before event i: period[i] minus period of the previous event
    before = np.diff(period, prepend=0)
    n_out = len(events) + int(before.sum())
    records = np.zeros((n_out, RECORD_BYTES), dtype=np.uint8)
    position = np.arange(len(events)) + np.cumsum(before)
    marker_rows = np.setdiff1d(np.arange(n_out), position, assume_unique=True)
    records[marker_rows, 1] = OVERFLOW_Y
    low = t % TIME_PERIOD
    records[position, 0] = x
    records[position, 1] = y
    records[position, 2] = ((p & 1) << 7) | ((low >> 16) & 0x7F)
    records[position, 3] = (low >> 8) & 0xFF
    records[position, 4] = low & 0xFF
    return records


def write_atis(path: PathLike, events: np.ndarray, sensor_size: SensorSize | None = None) -> None:
    """Write events as an ATIS ``.bin`` file (see ``encode_atis``); ``sensor_size`` is
    checked but not stored (the format has no header)."""
    events = events_for_writing(events, sensor_size)
    records = encode_atis(events)
    with atomic_output(path) as partial:
        records.tofile(partial)
