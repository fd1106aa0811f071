"""Prophesee ``.dat`` files of CD events (N-CARS, the Gen1 automotive dataset).

Layout: a ``%`` text header (see ``prophesee_header``), then, when the header has at least
one line, one byte of event type and one byte of event size; then 8-byte little-endian
records of two uint32 words:

=====  ===========================================================
word   content
=====  ===========================================================
0      timestamp, microseconds (a 32-bit counter)
1      bits 0-13 x, bits 14-27 y, bits 28-31 polarity (1 = ON)
=====  ===========================================================

Event types 0x00 (``Event2D``, N-CARS) and 0x0C (``EventCD``) share this layout; other
types (0x0E external triggers, ...) and sizes other than 8 are refused. A polarity field
other than 0 or 1 is refused as damage (Prophesee's own Python loader reads bit 28 alone;
expelliarmus all four bits). The sensor size comes from ``% Width`` / ``% Height`` when the
header has them; N-CARS files have not (pass ``sensor_size`` to check coordinates).

Timestamps: a drop of more than ``2**31`` us is a wrap of the 32-bit counter and adds
``2**32`` (expelliarmus counts *any* decrease as a wrap, which turns a damaged record into
a jump of 71 minutes); any other decrease is an error. Timestamps are kept as stored.

Read with our own numpy decoder, not by wrapping ``expelliarmus.Wizard(encoding="dat")``
(which Tonic ships and which gives the same events on the N-CARS sample). Its C loop alone
is faster, but wrapped as a reader must be (converted to ``EVENT_DTYPE`` and given our
checks) it is slower, it needs the file to be named ``*.dat``, and it reports damage only
on stderr. ``scripts/bench_reading_formats.py``, best of 5 on 2 cores shared with other
work: 10 million synthetic events, ours 208 ms, expelliarmus 63 ms alone and 251 ms
wrapped (ours 1.2x faster); the N-CARS sample (2,009 events), ours 0.30 ms, expelliarmus
0.09 ms alone and 0.33 ms wrapped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snn_transfer.errors import EventFormatError
from snn_transfer.events.core import EVENT_DTYPE, SensorSize
from snn_transfer.events.io.base import (
    CounterUnwrap,
    EventRecording,
    PathLike,
    StreamChecker,
    check_chunk_size,
    check_readable,
    normalise_sensor_size,
)
from snn_transfer.events.io.prophesee_header import PropheseeHeader, read_header

RECORD = np.dtype([("t", "<u4"), ("w", "<u4")])
EVENT_TYPES = {0x00: "Event2D", 0x0C: "EventCD"}
TIME_PERIOD = 1 << 32


@dataclass(frozen=True)
class DatLayout:
    """Where a ``.dat`` file's records are: the header, the declared event type, the byte
    offset of the first record and the number of records."""

    header: PropheseeHeader
    event_type: int
    records_start: int
    count: int


def read_dat_layout(path: PathLike) -> DatLayout:
    """Check a ``.dat`` file's header, event type and size, and its length."""
    path = check_readable(path)
    header = read_header(path)
    if header.encoding is not None:
        raise EventFormatError(
            f"the header declares the {header.encoding} encoding: this is a .raw recording, "
            "not a .dat file; read it with format='evt2' or 'evt3'",
            path=path,
            offset=0,
        )
    size = path.stat().st_size
    start, event_type = header.data_start, 0x00
    if header.lines:  # Prophesee writes the type and size bytes after any header
        with open(path, "rb") as file:
            file.seek(start)
            kind = file.read(2)
        if len(kind) < 2:
            raise EventFormatError(
                "truncated .dat file: the event type and size bytes after the header are missing",
                path=path,
                offset=start,
            )
        event_type, event_size = kind
        if event_type not in EVENT_TYPES or event_size != RECORD.itemsize:
            raise EventFormatError(
                f"event type 0x{event_type:02x} of {event_size} bytes: only CD events "
                f"(types {', '.join(f'0x{k:02x} {v}' for k, v in EVENT_TYPES.items())}, 8 "
                "bytes) are read (trigger and other .dat files are not event streams)",
                path=path,
                offset=start,
            )
        start += 2
    extra = (size - start) % RECORD.itemsize
    if extra:
        raise EventFormatError(
            f"truncated .dat file: the last record has {extra} of {RECORD.itemsize} bytes",
            path=path,
            offset=size - extra,
        )
    return DatLayout(header, event_type, start, (size - start) // RECORD.itemsize)


def declared_sensor_size(path: PathLike) -> SensorSize | None:
    """``(Width, Height, 2)`` from the header, or ``None`` (N-CARS)."""
    return read_header(check_readable(path)).sensor_size


def _decode(records: np.ndarray, unwrap: CounterUnwrap, path, first: int, start: int):
    word = records["w"]
    polarity = word >> 28
    if len(word) and int(polarity.max()) > 1:
        i = int(np.argmax(polarity > 1))
        raise EventFormatError(
            f"polarity field {int(polarity[i])} is not 0 or 1 (damaged record)",
            path=path,
            offset=start + (first + i) * RECORD.itemsize,
            index=first + i,
        )
    events = np.empty(len(records), dtype=EVENT_DTYPE)
    events["x"] = word & 0x3FFF
    events["y"] = (word >> 14) & 0x3FFF
    events["p"] = polarity
    events["t"] = unwrap(records["t"])
    return events


def _sensor(layout: DatLayout, sensor_size) -> SensorSize | None:
    return normalise_sensor_size(sensor_size) or layout.header.sensor_size


def read_prophesee_dat(path: PathLike, *, sensor_size: SensorSize | None = None) -> EventRecording:
    """Read a Prophesee ``.dat`` file of CD events.

    Returns:
        ``EventRecording``: ``[N]`` ``EVENT_DTYPE`` events, t in microseconds (unwrapped,
        as stored), sensor size from the header, ``sensor_size``, or ``None``.

    Raises:
        EventFormatError: a truncated header or record, a non-CD event type, a polarity
            field other than 0/1, a coordinate outside the sensor, or a timestamp that goes
            back (messages name the byte offset and event index).
    """
    path = check_readable(path)
    layout = read_dat_layout(path)
    size = _sensor(layout, sensor_size)
    records = np.fromfile(path, dtype=RECORD, count=layout.count, offset=layout.records_start)
    start = layout.records_start
    events = _decode(records, CounterUnwrap(TIME_PERIOD), path, 0, start)
    StreamChecker(path, size, lambda i: start + i * RECORD.itemsize).check(events)
    return EventRecording(events, size, "prophesee-dat", Path(path))


def iter_prophesee_dat(
    path: PathLike, chunk_events: int = 1 << 20, *, sensor_size: SensorSize | None = None
) -> Iterator[np.ndarray]:
    """Yield a ``.dat`` file's events in chunks of at most ``chunk_events``; memory is
    bounded by the chunk size."""
    path = check_readable(path)
    chunk_events = check_chunk_size(chunk_events)
    layout = read_dat_layout(path)
    start = layout.records_start
    checker = StreamChecker(path, _sensor(layout, sensor_size), lambda i: start + i * 8)
    unwrap = CounterUnwrap(TIME_PERIOD)
    with open(path, "rb") as file:
        file.seek(start)
        for first in range(0, layout.count, chunk_events):
            records = np.fromfile(file, dtype=RECORD, count=chunk_events)
            if len(records) == 0:
                return
            yield checker.check(_decode(records, unwrap, path, first, start))
