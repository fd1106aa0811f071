"""DVS128 Gesture samples as Tonic ships them (``.npy``).

Each file is one gesture: an ``[N, 4]`` integer array with columns ``x, y, p, t`` and ``t``
in **milliseconds** (Tonic's preprocessing reduced the original microsecond timestamps to
milliseconds). We return ``t * 1000`` microseconds, as Tonic's ``DVSGesture`` does, and
``p`` in {0, 1}. Sensor size ``(128, 128, 2)``.

Values are range-checked before they are narrowed to ``EVENT_DTYPE``, so nothing wraps:
coordinates must lie inside the sensor, ``p`` in {0, 1}, ``t`` non-negative and
non-decreasing. Floating-point arrays are accepted when every value is a whole number.
A file that is not a valid ``.npy`` (bad magic or header, wrong shape, object dtype,
truncated or trailing data) raises ``EventFormatError``. An ``[0, 4]`` array is an empty
stream.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Iterator

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

SENSOR_SIZE: SensorSize = (128, 128, 2)
COLUMNS = ("x", "y", "p", "t")
US_PER_MS = 1000
NPY_MAGIC = b"\x93NUMPY"
_MAX_T_MS = np.iinfo(np.int64).max // US_PER_MS


def _read_npy_header(file, path) -> tuple[tuple, bool, np.dtype]:
    """Parse a ``.npy`` header strictly: magic, version, a dict literal with ``descr`` (a
    plain numeric type such as ``'<i8'``), ``fortran_order`` and ``shape``.

    Parsed here rather than by numpy, whose header reader lets tokenizer errors escape on
    damaged input.
    """

    def fail(problem: str, offset: int = 0) -> EventFormatError:
        return EventFormatError(f"not a valid .npy file: {problem}", path=path, offset=offset)

    magic = file.read(8)
    if len(magic) < 8 or magic[:6] != NPY_MAGIC:
        raise fail(f"expected it to start with {NPY_MAGIC!r}, found {magic[:6]!r}")
    if magic[6] not in (1, 2, 3):
        raise fail(f"unknown .npy version {magic[6]}.{magic[7]}", 6)
    length_size = 2 if magic[6] == 1 else 4
    length_bytes = file.read(length_size)
    if len(length_bytes) < length_size:
        raise fail("truncated header", 8)
    text = file.read(int.from_bytes(length_bytes, "little"))
    try:
        with warnings.catch_warnings():  # damaged text makes the parser warn, not only fail
            warnings.simplefilter("ignore", SyntaxWarning)
            header = ast.literal_eval(text.decode("latin-1"))
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        raise fail("its header is not a Python dict literal", 8 + length_size) from None
    descr = header.get("descr") if isinstance(header, dict) else None
    shape = header.get("shape") if isinstance(header, dict) else None
    fortran = header.get("fortran_order") if isinstance(header, dict) else None
    if (
        not isinstance(descr, str)
        or not re.fullmatch(r"[<>|=]?[iuf][1248]", descr)
        or not isinstance(fortran, bool)
        or not isinstance(shape, tuple)
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise EventFormatError(
            "expected an [N, 4] integer array (x, y, p, t_ms) as Tonic's DVSGesture ships, "
            f"the header says {header!r}",
            path=path,
            offset=8 + length_size,
        )
    return shape, fortran, np.dtype(descr)


def _open_array(path, mmap: bool) -> np.ndarray:
    """Check the ``.npy`` header against the file size, then read or memory-map the
    ``[N, 4]`` array."""
    size = path.stat().st_size
    with open(path, "rb") as file:
        shape, fortran, dtype = _read_npy_header(file, path)
        data_start = file.tell()
    if len(shape) != 2 or shape[1] != 4:
        raise EventFormatError(
            f"expected an [N, 4] array (x, y, p, t_ms) as Tonic's DVSGesture ships, got "
            f"shape {shape}",
            path=path,
            offset=0,
        )
    need = shape[0] * 4 * dtype.itemsize
    if size - data_start != need:
        what = "truncated" if size - data_start < need else "trailing bytes after the array"
        raise EventFormatError(
            f"{what}: the header declares {shape[0]} rows ({need} bytes of data), the file "
            f"holds {size - data_start}",
            path=path,
            offset=data_start + min(need, size - data_start),
        )
    order = "F" if fortran else "C"
    if shape[0] == 0:
        return np.zeros((0, 4), dtype=dtype)
    if mmap:
        return np.memmap(path, dtype=dtype, mode="r", offset=data_start, shape=shape, order=order)
    flat = np.fromfile(path, dtype=dtype, count=shape[0] * 4, offset=data_start)
    return flat.reshape(shape, order=order)


def _to_events(rows: np.ndarray, path, first: int, sensor: SensorSize) -> np.ndarray:
    """Range-check ``[n, 4]`` rows (x, y, p, t_ms) and convert them to ``EVENT_DTYPE``."""
    limits = {"x": sensor[0], "y": sensor[1], "p": sensor[2], "t": _MAX_T_MS + 1}
    events = np.empty(len(rows), dtype=EVENT_DTYPE)
    for column, name in enumerate(COLUMNS):
        values = np.asarray(rows[:, column])
        bad = ~((values >= 0) & (values < limits[name]))
        if values.dtype.kind == "f":
            bad |= values != np.floor(values)
        if bad.any():
            i = int(np.argmax(bad))
            unit = " ms" if name == "t" else f" (sensor size (W, H, P) = {sensor})"
            raise EventFormatError(
                f"{name} = {values[i]} outside 0..{limits[name] - 1}{unit}",
                path=path,
                index=first + i,
            )
        events[name] = values * US_PER_MS if name == "t" else values
    return events


def read_gesture_npy(path: PathLike, *, sensor_size: SensorSize | None = None) -> EventRecording:
    """Read one Tonic DVS128 Gesture ``.npy`` sample.

    Returns:
        ``EventRecording``: ``[N]`` ``EVENT_DTYPE`` events, ``t`` in microseconds
        (``t_ms * 1000``), sensor size ``(128, 128, 2)`` unless ``sensor_size`` is given.
    """
    path = check_readable(path)
    size = normalise_sensor_size(sensor_size) or SENSOR_SIZE
    rows = _open_array(path, mmap=False)
    events = _to_events(rows, path, 0, size)
    StreamChecker(path, size).check(events)
    return EventRecording(events, size, "gesture-npy", path)


def iter_gesture_npy(
    path: PathLike, chunk_events: int = 1 << 20, *, sensor_size: SensorSize | None = None
) -> Iterator[np.ndarray]:
    """Yield a Gesture ``.npy`` sample in chunks of at most ``chunk_events`` events,
    memory-mapping the file so memory stays bounded by the chunk size."""
    path = check_readable(path)
    chunk_events = check_chunk_size(chunk_events)
    size = normalise_sensor_size(sensor_size) or SENSOR_SIZE
    rows = _open_array(path, mmap=True)
    checker = StreamChecker(path, size)
    for start in range(0, len(rows), chunk_events):
        yield checker.check(_to_events(rows[start : start + chunk_events], path, start, size))


def write_gesture_npy(
    path: PathLike, events: np.ndarray, sensor_size: SensorSize | None = SENSOR_SIZE
) -> None:
    """Write events as a Tonic-style Gesture sample: ``[N, 4]`` int64 ``x, y, p, t_ms``.

    ``t`` must be whole milliseconds (a multiple of 1000 us), since the format stores ms.
    """
    events = events_for_writing(events, sensor_size or SENSOR_SIZE)
    if np.any(events["t"] % US_PER_MS):
        i = int(np.argmax(events["t"] % US_PER_MS != 0))
        raise EventFormatError(
            "the Gesture .npy format stores milliseconds; t must be a multiple of 1000 us "
            "(round it first)",
            index=i,
        )
    rows = np.stack(
        [events["x"], events["y"], events["p"], events["t"] // US_PER_MS], axis=1
    ).astype(np.int64)
    with atomic_output(path) as partial, open(partial, "wb") as file:
        np.save(file, rows, allow_pickle=False)
