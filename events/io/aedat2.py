"""AEDAT 2.0 files from a DVS128 (``.aedat``: the original CIFAR10-DVS release).

Layout: a text header of lines starting with ``#`` (the first is ``#!AER-DAT2.0``, jAER
ends lines with ``\\r\\n``, some tools with ``\\n``), then 8-byte records of two big-endian
uint32: address, timestamp (microseconds).

DVS128 address bits: 0 polarity, 1-7 sensor column, 8-14 sensor row; higher bits are
ignored. We map them to events exactly as SpikingJelly 2.0's CIFAR10-DVS loader does, so
frames match what its users train on: ``x = 127 - row``, ``y = 127 - column``,
``p = 1 - bit0``. Sensor size ``(128, 128, 2)``.

Timestamps are a 32-bit microsecond counter, which wraps after about 71.6 minutes. A drop
of more than ``2**31`` us between consecutive events is read as a wrap and ``2**32`` is
added to all later timestamps (CIFAR10-DVS clips last about 1.3 s, so in practice this only
matters when a recording straddles the wrap). Any other decrease is an error: the file is
damaged or the counter was reset. Timestamps are not shifted to start at 0.

A header that declares a chip other than the DVS128 (``# AEChip: ...``) is rejected, since
other chips use other address layouts. A file whose header ends without records is an
empty stream; a file without the ``#!AER-DAT`` header is an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

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
)

MAGIC = b"#!AER-DAT"
RECORD = np.dtype([("address", ">u4"), ("timestamp", ">u4")])
SENSOR_SIZE: SensorSize = (128, 128, 2)
DVS128_CHIPS = ("dvs128", "tmpdiff128")
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


def _check_header(header: Aedat2Header, path) -> None:
    if not header.version.startswith("2."):
        raise EventFormatError(
            f"AEDAT version {header.version!r} is not supported here; only 2.x (DVS128, the "
            "original CIFAR10-DVS release) is; AEDAT 4 files start with #!AER-DAT4.0",
            path=path,
            offset=0,
        )
    if header.chip is not None and not any(c in header.chip.lower() for c in DVS128_CHIPS):
        raise EventFormatError(
            f"the header declares AEChip {header.chip}, not a DVS128: its address layout "
            "differs and only DVS128 addresses are decoded",
            path=path,
            offset=0,
        )


def decode_aedat2(records: np.ndarray, wraps_before: int = 0) -> tuple[np.ndarray, int]:
    """Decode ``RECORD`` (address, timestamp) pairs into ``EVENT_DTYPE`` events.

    Args:
        records: ``[N]`` array of ``RECORD`` (big-endian uint32 pairs).
        wraps_before: 32-bit counter wraps already seen (chunked reading); a wrap between
            the previous chunk and this one must be counted by the caller.

    Returns:
        ``(events, wraps)``: events with t in microseconds, and the wrap count after them.
    """
    address = records["address"].astype(np.uint32)
    events = np.empty(len(records), dtype=EVENT_DTYPE)
    events["x"] = 127 - ((address >> 8) & 0x7F)
    events["y"] = 127 - ((address >> 1) & 0x7F)
    events["p"] = 1 - (address & 1)
    t = records["timestamp"].astype(np.int64)
    wrapped = np.diff(t) < -(TIME_PERIOD // 2)
    if wraps_before or wrapped.any():
        count = np.concatenate(([0], np.cumsum(wrapped))) + wraps_before
        t += count * TIME_PERIOD
        wraps_before = int(count[-1])
    events["t"] = t
    return events, wraps_before


def _open(path, sensor_size) -> tuple[Aedat2Header, int, SensorSize]:
    path = check_readable(path)
    with open(path, "rb") as file:
        header = _read_header(file, path)
    _check_header(header, path)
    size = path.stat().st_size - header.data_start
    if size % RECORD.itemsize:
        last = header.data_start + size - size % RECORD.itemsize
        raise EventFormatError(
            f"truncated AEDAT 2 file: the last record has {size % RECORD.itemsize} of "
            f"{RECORD.itemsize} bytes",
            path=path,
            offset=last,
        )
    return header, size // RECORD.itemsize, normalise_sensor_size(sensor_size) or SENSOR_SIZE


def read_aedat2(path: PathLike, *, sensor_size: SensorSize | None = None) -> EventRecording:
    """Read a DVS128 AEDAT 2.0 file.

    Returns:
        ``EventRecording``: ``[N]`` ``EVENT_DTYPE`` events (t in microseconds, unwrapped),
        sensor size ``(128, 128, 2)`` unless ``sensor_size`` is given.

    Raises:
        EventFormatError: missing or non-2.x header, a non-DVS128 chip, a truncated record,
            or timestamps that go back (message names the byte offset and event index).
    """
    path = check_readable(path)
    header, count, size = _open(path, sensor_size)
    records = np.fromfile(path, dtype=RECORD, count=count, offset=header.data_start)
    events, _ = decode_aedat2(records)
    StreamChecker(path, size, lambda i: header.data_start + i * RECORD.itemsize).check(events)
    return EventRecording(events, size, "aedat2", path)


def iter_aedat2(
    path: PathLike, chunk_events: int = 1 << 20, *, sensor_size: SensorSize | None = None
) -> Iterator[np.ndarray]:
    """Yield a DVS128 AEDAT 2.0 file's events in chunks of at most ``chunk_events``
    (``EVENT_DTYPE``); memory is bounded by the chunk size."""
    path = check_readable(path)
    chunk_events = check_chunk_size(chunk_events)
    header, count, size = _open(path, sensor_size)
    checker = StreamChecker(path, size, lambda i: header.data_start + i * RECORD.itemsize)
    wraps, last = 0, None
    with open(path, "rb") as file:
        file.seek(header.data_start)
        for _ in range(0, count, chunk_events):
            records = np.fromfile(file, dtype=RECORD, count=chunk_events)
            if len(records) == 0:
                return
            first = int(records["timestamp"][0])
            if last is not None and first - last < -(TIME_PERIOD // 2):
                wraps += 1
            last = int(records["timestamp"][-1])
            events, wraps = decode_aedat2(records, wraps)
            yield checker.check(events)


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
