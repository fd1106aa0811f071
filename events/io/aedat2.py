"""AEDAT 2.0 files (``.aedat``) of jAER chips: the DVS128 (the original CIFAR10-DVS
release) and DAVIS cameras (DAVIS346, DAVIS240, DAVIS640).

Layout: a text header of lines starting with ``#`` (the first is ``#!AER-DAT2.0``, jAER
ends lines with ``\\r\\n``, some tools with ``\\n``), then 8-byte records of two big-endian
uint32: address, timestamp (microseconds). The header's ``# AEChip: <Java class>`` line
names the chip, which fixes the address layout and the sensor size (``aedat2_chips``): the
DVS128 is decoded as SpikingJelly decodes CIFAR10-DVS, DAVIS chips as jAER and Tonic's
``read_davis_346`` do, keeping only polarity events (APS frame samples, IMU samples and
external-input events are skipped). A chip we do not know is refused; no ``AEChip`` line
means a DVS128.

Timestamps are a 32-bit microsecond counter, which wraps after about 71.6 minutes. A drop
of more than ``2**31`` us between consecutive records is read as a wrap and ``2**32`` is
added to all later timestamps (CIFAR10-DVS clips last about 1.3 s, so in practice this only
matters when a recording straddles the wrap). Any other decrease is an error: the file is
damaged or the counter was reset. Timestamps are not shifted to start at 0.

A file whose header ends without records is an empty stream (Tonic's DAVIS346 sample is
such a header); a file without the ``#!AER-DAT`` header is an error. Our numpy decoder is
used rather than ``tonic.io.read_davis_346``, which decodes APS, IMU and trigger records as
polarity events too (and ``read_dvs_128`` and Tonic 1.7's other chip readers fail to run
at all). ``scripts/bench_reading_formats.py``, best of 5 on 2 cores shared with other
work, 10 million synthetic DAVIS346 events: ours 272 ms, Tonic 159 ms alone and 343 ms
wrapped (converted to ``EVENT_DTYPE`` and given our checks).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from snn_transfer.atomic import atomic_output
from snn_transfer.errors import EventFormatError
from snn_transfer.events.core import EVENT_DTYPE, SensorSize
from snn_transfer.events.io.aedat2_chips import DVS128, AEChip, chip_for, supported_chips
from snn_transfer.events.io.base import (
    CounterUnwrap,
    EventRecording,
    PathLike,
    StreamChecker,
    check_chunk_size,
    check_readable,
    events_for_writing,
    normalise_sensor_size,
    rechunk,
)

MAGIC = b"#!AER-DAT"
RECORD = np.dtype([("address", ">u4"), ("timestamp", ">u4")])
SENSOR_SIZE: SensorSize = DVS128.sensor_size
TIME_PERIOD = 1 << 32
_MAX_LINE = 1 << 20


@dataclass(frozen=True)
class Aedat2Header:
    """The text header of an AEDAT 2 file.

    Attributes:
        version: the version after ``#!AER-DAT``, e.g. ``"2.0"``.
        data_start: byte offset of the first record.
        lines: every header line without the leading ``#`` and the line ending.
        chip: the jAER chip class from ``# AEChip: ...``, or ``None`` if not declared.
        creation_time_ms: ``System.currentTimeMillis()`` from ``# Creation time: ...``
            (milliseconds since 1970), or ``None``.
    """

    version: str
    data_start: int
    lines: tuple[str, ...]
    chip: str | None
    creation_time_ms: int | None


def _read_header(file: BinaryIO, path) -> Aedat2Header:
    first = file.readline(_MAX_LINE)
    if not first.startswith(MAGIC):
        what = "the file is empty" if not first else f"it starts with {first[:16]!r}"
        raise EventFormatError(
            f"not an AEDAT file: expected a first line {MAGIC.decode()}2.0, {what}",
            path=path,
            offset=0,
        )
    lines, position = [], 0
    line = first
    while line.startswith(b"#"):
        if not line.endswith(b"\n"):
            raise EventFormatError(
                "truncated AEDAT header: a header line has no end of line",
                path=path,
                offset=position,
            )
        lines.append(line[1:].rstrip(b"\r\n").decode("latin-1"))
        position += len(line)
        line = file.readline(_MAX_LINE)
    version = lines[0][len(MAGIC) - 1 :].strip()
    chip = creation = None
    for text in lines[1:]:
        key, _, value = text.strip().partition(":")
        if key == "AEChip":
            chip = value.strip()
        elif key == "Creation time" and value.split():
            token = value.split()[-1]
            # ASCII digits only: str.isdigit() also accepts "¹", which int() refuses
            creation = int(token) if token.isascii() and token.isdigit() else None
    return Aedat2Header(version, position, tuple(lines), chip, creation)


def read_aedat2_header(path: PathLike) -> Aedat2Header:
    """Parse the text header of an AEDAT file (any version) without reading records."""
    path = check_readable(path)
    with open(path, "rb") as file:
        return _read_header(file, path)


def _check_header(header: Aedat2Header, path) -> AEChip:
    if not header.version.startswith("2."):
        raise EventFormatError(
            f"AEDAT version {header.version!r} is not supported here; only 2.x (DVS128, the "
            "original CIFAR10-DVS release, and DAVIS cameras) is; AEDAT 4 files start with "
            "#!AER-DAT4.0",
            path=path,
            offset=0,
        )
    chip = chip_for(header.chip)
    if chip is None:
        raise EventFormatError(
            f"the header declares AEChip {header.chip}, whose address layout is not known "
            f"here; decoded are {supported_chips()}",
            path=path,
            offset=0,
        )
    return chip


def declared_sensor_size(path: PathLike) -> SensorSize:
    """The sensor size of the chip the header declares (DVS128's when none)."""
    path = check_readable(path)
    return _check_header(read_aedat2_header(path), path).sensor_size


def _decode(records: np.ndarray, chip: AEChip, unwrap: CounterUnwrap, path, first: int, start: int):
    """``(events, kept)``: the chip's polarity events among ``records`` (record ``first``
    onwards of the file) and the indices of their records within ``records``."""
    address = records["address"].astype(np.uint32)
    t = unwrap(records["timestamp"])
    keep, x_raw, y_raw, p = chip.decode(address)
    kept = np.flatnonzero(keep)
    x_raw, y_raw = x_raw[kept], y_raw[kept]
    width, height, _ = chip.sensor_size
    outside = (x_raw >= width) | (y_raw >= height)
    if outside.any():
        i = int(np.argmax(outside))
        raise EventFormatError(
            f"address of ({int(x_raw[i])}, {int(y_raw[i])}) outside the {chip.name}'s "
            f"{width}x{height} pixels (damaged record)",
            path=path,
            offset=start + (first + int(kept[i])) * RECORD.itemsize,
        )
    events = np.empty(len(kept), dtype=EVENT_DTYPE)
    events["x"], events["y"] = chip.to_events_xy(x_raw, y_raw)
    events["p"] = p[kept]
    events["t"] = t[kept]
    return events, kept


def _open(path, sensor_size) -> tuple[Aedat2Header, int, AEChip, SensorSize]:
    path = check_readable(path)
    with open(path, "rb") as file:
        header = _read_header(file, path)
    chip = _check_header(header, path)
    size = path.stat().st_size - header.data_start
    if size % RECORD.itemsize:
        last = header.data_start + size - size % RECORD.itemsize
        raise EventFormatError(
            f"truncated AEDAT 2 file: the last record has {size % RECORD.itemsize} of "
            f"{RECORD.itemsize} bytes",
            path=path,
            offset=last,
        )
    count = size // RECORD.itemsize
    return header, count, chip, normalise_sensor_size(sensor_size) or chip.sensor_size


def _offsets(start: int, kept: np.ndarray, first_record: int, first_event: int):
    return lambda i: start + (first_record + int(kept[i - first_event])) * RECORD.itemsize


def read_aedat2(path: PathLike, *, sensor_size: SensorSize | None = None) -> EventRecording:
    """Read an AEDAT 2.0 file of a DVS128 or a DAVIS (see ``aedat2_chips``).

    Returns:
        ``EventRecording``: ``[N]`` ``EVENT_DTYPE`` polarity events (t in microseconds,
        unwrapped), sensor size of the chip unless ``sensor_size`` is given.

    Raises:
        EventFormatError: missing or non-2.x header, an unknown chip, a truncated record, an
            address outside the chip, or timestamps that go back (message names the byte
            offset and event index).
    """
    path = check_readable(path)
    header, count, chip, size = _open(path, sensor_size)
    records = np.fromfile(path, dtype=RECORD, count=count, offset=header.data_start)
    start = header.data_start
    events, kept = _decode(records, chip, CounterUnwrap(TIME_PERIOD), path, 0, start)
    StreamChecker(path, size, _offsets(start, kept, 0, 0)).check(events)
    return EventRecording(events, size, "aedat2", path)


def iter_aedat2(
    path: PathLike, chunk_events: int = 1 << 20, *, sensor_size: SensorSize | None = None
) -> Iterator[np.ndarray]:
    """Yield an AEDAT 2.0 file's events in chunks of at most ``chunk_events``
    (``EVENT_DTYPE``); memory is bounded by the chunk size."""
    path = check_readable(path)
    chunk_events = check_chunk_size(chunk_events)
    header, count, chip, size = _open(path, sensor_size)
    start = header.data_start
    checker = StreamChecker(path, size)
    unwrap = CounterUnwrap(TIME_PERIOD)

    def chunks() -> Iterator[np.ndarray]:
        with open(path, "rb") as file:
            file.seek(start)
            for first in range(0, count, chunk_events):
                records = np.fromfile(file, dtype=RECORD, count=chunk_events)
                if len(records) == 0:
                    return
                events, kept = _decode(records, chip, unwrap, path, first, start)
                checker.offset_of = _offsets(start, kept, first, checker.count)
                if len(events):
                    yield checker.check(events)

    yield from rechunk(chunks(), chunk_events)


def write_aedat2(
    path: PathLike, events: np.ndarray, sensor_size: SensorSize | None = SENSOR_SIZE
) -> None:
    """Write events as a DVS128 AEDAT 2.0 file (the inverse of ``read_aedat2``).

    Args:
        events: ``EVENT_DTYPE`` (or convertible), time-sorted, inside 128x128x2, ``t >= 0``
            in microseconds. Timestamps are stored modulo ``2**32``; consecutive events
            must be less than ``2**31`` us apart so the reader can unwrap them.
    """
    size = normalise_sensor_size(sensor_size) or SENSOR_SIZE
    if size[0] > 128 or size[1] > 128 or size[2] > 2:
        raise EventFormatError(f"DVS128 AEDAT 2 holds at most 128x128x2 events, not {size}")
    events = events_for_writing(events, size)
    t = events["t"]
    if len(t) > 1 and np.any(np.diff(t) >= TIME_PERIOD // 2):
        raise EventFormatError("events 2**31 us or more apart cannot be stored in AEDAT 2")
    records = np.empty(len(events), dtype=RECORD)
    row = 127 - events["x"].astype(np.uint32)
    column = 127 - events["y"].astype(np.uint32)
    records["address"] = (row << 8) | (column << 1) | (1 - events["p"].astype(np.uint32))
    records["timestamp"] = (t % TIME_PERIOD).astype(np.uint32)
    lines = (
        "#!AER-DAT2.0",
        "# This is a raw AE data file - do not edit",
        "# Data format is int32 address, int32 timestamp (8 bytes total), repeated for each event",
        "# Timestamps tick is 1 us",
        "# AEChip: ch.unizh.ini.jaer.chip.retina.DVS128",
        "# Written by snn-transfer",
    )
    with atomic_output(path) as partial, open(partial, "wb") as file:
        file.write("".join(line + "\r\n" for line in lines).encode("ascii"))
        records.tofile(file)
