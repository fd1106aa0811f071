"""MATLAB ``.mat`` event files in the ST-MNIST layout (Spiking Tactile MNIST).

One variable ``spiketrain``, a ``[101, N]`` double matrix: rows 0-99 are the 10x10 taxels
of the tactile sensor, with -1 (OFF), 0 (nothing) or 1 (ON) in each of the N columns, and
row 100 holds each column's time in seconds. Every nonzero entry is an event at taxel
``a``: ``x = a % 10``, ``y = a // 10``, ``p = 1`` for ON; events come out column by column
and, within a column, by taxel. This is how Tonic's (former) ``STMNIST`` dataset decoded
them; Tonic 1.7 has no reader for these files any more. Sensor size ``(10, 10, 2)``.

Times are whole microseconds rounded down, as Tonic's ``astype(int)`` does (the sample's
times have sub-microsecond digits), except that a product within 1e-6 us below a whole
number counts as that number: ``0.000249 * 1e6`` is ``248.99999999999997`` in floating
point, which truncation would turn into 248. Columns must be in time order.

Read through ``scipy.io.loadmat`` (imported when called), as Tonic did, so the whole file
is read at once (ST-MNIST samples are about 40 kB); MATLAB 7.3 files (HDF5 inside) are
refused. Any other set of variables is refused with the names found. On the sample,
``scripts/bench_reading_formats.py`` measures 4.0 ms against 2.2 ms for ``loadmat`` alone.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from snn_transfer.errors import EventFormatError
from snn_transfer.events.core import EVENT_DTYPE, SensorSize
from snn_transfer.events.io.base import (
    EventRecording,
    PathLike,
    StreamChecker,
    check_chunk_size,
    check_readable,
    normalise_sensor_size,
    rechunk,
)

MAGIC = b"MATLAB 5.0 MAT-file"
MAGIC_73 = b"MATLAB 7.3 MAT-file"
VARIABLE = "spiketrain"
SIDE = 10
TAXELS = SIDE * SIDE
SENSOR_SIZE: SensorSize = (SIDE, SIDE, 2)
US_PER_S = 1_000_000
_TOLERANCE_US = 1e-6


def _load(path: Path) -> np.ndarray:
    with open(path, "rb") as file:
        head = file.read(len(MAGIC))
    if head == MAGIC_73:
        raise EventFormatError(
            "a MATLAB 7.3 (HDF5) .mat file: only MATLAB 5 files (ST-MNIST's) are read; save it "
            "again with save(..., '-v7')",
            path=path,
            offset=0,
        )
    try:
        from scipy.io import loadmat

        with warnings.catch_warnings():  # damaged files make scipy warn before it fails
            warnings.simplefilter("ignore")
            data = loadmat(path, variable_names=[VARIABLE])
    except MemoryError:
        raise EventFormatError("a .mat header declares more data than fits", path=path) from None
    except Exception as error:  # scipy raises many types on damaged files
        raise EventFormatError(
            f"not a readable MATLAB 5 .mat file ({type(error).__name__}: {error})", path=path
        ) from None
    if VARIABLE not in data:
        from scipy.io import whosmat

        try:
            names = [name for name, _, _ in whosmat(path)]
        except Exception:
            names = []
        raise EventFormatError(
            f"no '{VARIABLE}' variable (the ST-MNIST layout); the file holds "
            f"{', '.join(names) or 'no variables'}",
            path=path,
        )
    matrix = data[VARIABLE]
    if (
        not isinstance(matrix, np.ndarray)
        or matrix.ndim != 2
        or matrix.shape[0] != TAXELS + 1
        or matrix.dtype.kind not in "iuf"
    ):
        shape = getattr(matrix, "shape", None)
        raise EventFormatError(
            f"'{VARIABLE}' must be a [{TAXELS + 1}, N] numeric matrix (100 taxels and the time "
            f"in seconds), it is {shape} of {getattr(matrix, 'dtype', type(matrix).__name__)}",
            path=path,
        )
    return matrix


def _decode(matrix: np.ndarray, path: Path) -> np.ndarray:
    taxels, seconds = matrix[:TAXELS].T, matrix[TAXELS].astype(np.float64)
    bad = ~np.isin(taxels, (-1, 0, 1))
    if bad.any():
        column, taxel = np.argwhere(bad)[0]
        raise EventFormatError(
            f"taxel {taxel} of column {column} holds {taxels[column, taxel]}, not -1, 0 or 1",
            path=path,
        )
    bad = ~np.isfinite(seconds) | (seconds < 0) | (seconds * US_PER_S >= 2.0**62)
    if bad.any():
        column = int(np.argmax(bad))
        raise EventFormatError(
            f"column {column} has the time {seconds[column]} s, not a time >= 0", path=path
        )
    column, taxel = np.nonzero(taxels)
    events = np.empty(len(column), dtype=EVENT_DTYPE)
    events["x"] = taxel % SIDE
    events["y"] = taxel // SIDE
    events["p"] = taxels[column, taxel] > 0
    events["t"] = np.floor(seconds * US_PER_S + _TOLERANCE_US).astype(np.int64)[column]
    return events


def read_stmnist_mat(path: PathLike, *, sensor_size: SensorSize | None = None) -> EventRecording:
    """Read an ST-MNIST ``.mat`` file.

    Returns:
        ``EventRecording``: ``[N]`` ``EVENT_DTYPE`` events (t in microseconds, rounded
        down), sensor size ``(10, 10, 2)`` unless ``sensor_size`` is given.

    Raises:
        EventFormatError: not a MATLAB 5 file, no ``spiketrain`` of 101 rows, taxel values
            other than -1/0/1, negative or non-finite times, time going back.
    """
    path = check_readable(path)
    size = normalise_sensor_size(sensor_size) or SENSOR_SIZE
    events = _decode(_load(path), path)
    StreamChecker(path, size).check(events)
    return EventRecording(events, size, "stmnist-mat", path)


def iter_stmnist_mat(
    path: PathLike, chunk_events: int = 1 << 20, *, sensor_size: SensorSize | None = None
) -> Iterator[np.ndarray]:
    """Yield an ST-MNIST file's events in chunks of at most ``chunk_events`` (the file is
    read whole first: ``scipy.io`` cannot stream)."""
    chunk_events = check_chunk_size(chunk_events)
    yield from rechunk(iter([read_stmnist_mat(path, sensor_size=sensor_size).events]), chunk_events)
