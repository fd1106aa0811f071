"""Our own HDF5 event files (``.h5``), one stream per file.

Layout (root attribute ``kind = "events"``):

* datasets ``x``, ``y``, ``t``, ``p``: 1-D, one value per event, dtypes of ``EVENT_DTYPE``
  (int16, int16, int64 microseconds, int8);
* attributes ``sensor_size`` (W, H, P; absent when unknown) and ``source`` (free text: where
  the events came from).

Other kinds share the root attribute: ``event-dataset`` (many labelled streams, see
``event_dataset.py``) and ``frames`` (a frame cache, written elsewhere). ``read_hdf5_events``
reads only ``kind = "events"``; ``describe`` summarises every kind.

h5py is imported when a function needs it. Errors that the HDF5 library raises on a
damaged file (``OSError``, ``KeyError``, ...) become ``EventFormatError`` naming the file.
Our writers use the HDF5 1.8 file format, whose metadata is checksummed: damage to the
structure is detected when the file is opened. (With older, unchecksummed files the HDF5
library itself can loop on damaged metadata; nothing in Python can catch that.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    import h5py

MAGIC = b"\x89HDF\r\n\x1a\n"
KIND_EVENTS = "events"
KIND_EVENT_DATASET = "event-dataset"
KIND_FRAMES = "frames"
# HDF5 1.8+ file format: its metadata (superblock, object headers, B-trees) carries
# checksums, so a damaged file fails to open instead of sending the library astray
LIBVER = ("v108", "latest")
# deflate, the strongest filter h5py ships, packs at most about 1032:1 (runs of zeros)
MAX_COMPRESSION = 1100


@contextlib.contextmanager
def hdf5_errors(path: PathLike) -> Iterator[None]:
    """Turn anything the HDF5 library raises into ``EventFormatError`` naming ``path``.

    libhdf5 reports damage through many exception types (``OSError``, ``KeyError``,
    ``RuntimeError``, ``ValueError``, ``TypeError``), hence the broad catch.
    """
    try:
        yield
    except EventFormatError:
        raise
    except Exception as error:
        raise EventFormatError(
            f"the HDF5 library cannot read it ({type(error).__name__}: {error})", path=path
        ) from None


def open_hdf5(path: PathLike) -> h5py.File:
    """Open an HDF5 file read-only (``h5py.File``), errors as ``EventFormatError``."""
    import h5py

    path = check_readable(path)
    with hdf5_errors(path):
        return h5py.File(path, "r")


def fixed_text(value: str) -> np.bytes_:
    """``value`` as a fixed-length UTF-8 HDF5 string. Variable-length strings live in
    HDF5's global heap, which has no checksum; fixed-length ones sit in checksummed
    object headers."""
    return np.bytes_(str(value).encode("utf-8"))


def text_attr(value: object) -> str:
    """An HDF5 string attribute as ``str`` (h5py may give bytes or numpy strings)."""
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def file_kind(file: h5py.File, path: PathLike) -> str:
    """The root ``kind`` attribute of an open file, or raise naming the path."""
    if "kind" not in file.attrs:
        raise EventFormatError(
            "HDF5 file without a root 'kind' attribute: not written by snn-transfer "
            "(expected kind 'events', 'event-dataset' or 'frames')",
            path=path,
        )
    return text_attr(file.attrs["kind"])


def sensor_attr(file: h5py.File, path: PathLike) -> SensorSize | None:
    """The ``sensor_size`` attribute as ``(W, H, P)``, or ``None`` if absent."""
    if "sensor_size" not in file.attrs:
        return None
    try:
        return normalise_sensor_size(np.asarray(file.attrs["sensor_size"]).tolist())
    except EventFormatError as error:
        raise EventFormatError(f"bad sensor_size attribute: {error.problem}", path=path) from None


def declared_sensor_size(path: PathLike) -> SensorSize | None:
    """The ``sensor_size`` attribute of an HDF5 file of ours, or ``None`` if absent."""
    with open_hdf5(path) as file, hdf5_errors(path):
        return sensor_attr(file, path)


def check_stored(data: h5py.Dataset, path: PathLike) -> None:
    """Refuse a dataset whose stored bytes cannot hold what its shape declares.

    HDF5 reads fill values for storage that was never written, so a damaged or crafted
    header claiming 10**9 events in a 2 KB file would otherwise be read as 10**9 zeros
    (16 GB). Compressed datasets may hold up to ``MAX_COMPRESSION`` times their storage.
    """
    from h5py import h5z

    declared = data.size * data.dtype.itemsize
    if declared == 0:
        return
    plist = data.id.get_create_plist()
    filters = {plist.get_filter(i)[0] for i in range(plist.get_nfilters())}
    packing = filters - {h5z.FILTER_SHUFFLE, h5z.FILTER_FLETCHER32}
    stored = data.id.get_storage_size()
    if stored * (MAX_COMPRESSION if packing else 1) < declared:
        raise EventFormatError(
            f"dataset {data.name!r} declares shape {data.shape} ({declared} bytes), the file "
            f"stores {stored} bytes of it: truncated or damaged",
            path=path,
        )


def event_columns(group: h5py.Group, path: PathLike) -> int:
    """Check that ``x, y, t, p`` are 1-D integer datasets of one length, stored in full
    (``check_stored``); return the length."""
    lengths = set()
    for name in "xytp":
        if name not in group:
            raise EventFormatError(f"dataset {name!r} missing (expected x, y, t, p)", path=path)
        data = group[name]
        if data.ndim != 1 or data.dtype.kind not in "iu":
            raise EventFormatError(
                f"dataset {name!r} is {data.dtype} with shape {data.shape}; expected 1-D ints",
                path=path,
            )
        check_stored(data, path)
        lengths.add(data.shape[0])
    if len(lengths) != 1:
        raise EventFormatError(
            f"datasets x, y, t, p differ in length: {sorted(lengths)}", path=path
        )
    return lengths.pop()


def columns_to_events(group: h5py.Group, start: int, stop: int, path: PathLike) -> np.ndarray:
    """Events ``start:stop`` of datasets x, y, t, p as ``EVENT_DTYPE``, range-checked
    against the field types first so that nothing wraps when narrowed."""
    events = np.empty(stop - start, dtype=EVENT_DTYPE)
    for name in "xytp":
        values = group[name][start:stop]
        info = np.iinfo(EVENT_DTYPE[name])
        if len(values) and (values.min() < info.min or values.max() > info.max):
            i = int(np.argmax((values < info.min) | (values > info.max)))
            raise EventFormatError(
                f"{name} = {values[i]} does not fit {EVENT_DTYPE[name]}", path=path, index=start + i
            )
        events[name] = values
    return events


def _open_events(path, sensor_size):
    file = open_hdf5(path)
    try:
        with hdf5_errors(path):
            kind = file_kind(file, path)
            if kind != KIND_EVENTS:
                hint = {
                    KIND_EVENT_DATASET: "; open it with EventDataset(path)",
                    KIND_FRAMES: "; it is a frame cache",
                }.get(kind, "")
                raise EventFormatError(
                    f"HDF5 file of kind {kind!r}, not a single event stream ('events'){hint}",
                    path=path,
                )
            count = event_columns(file, path)
            size = normalise_sensor_size(sensor_size) or sensor_attr(file, path)
    except BaseException:
        file.close()
        raise
    return file, count, size


def read_hdf5_events(path: PathLike, *, sensor_size: SensorSize | None = None) -> EventRecording:
    """Read an HDF5 file of kind ``events``.

    Returns:
        ``EventRecording``: ``[N]`` ``EVENT_DTYPE`` events (t in microseconds), the file's
        ``sensor_size`` attribute (or the one given, or ``None``).
    """
    path = check_readable(path)
    file, count, size = _open_events(path, sensor_size)
    with file, hdf5_errors(path):
        events = columns_to_events(file, 0, count, path)
    StreamChecker(path, size).check(events)
    return EventRecording(events, size, "hdf5", path)


def iter_hdf5_events(
    path: PathLike, chunk_events: int = 1 << 20, *, sensor_size: SensorSize | None = None
) -> Iterator[np.ndarray]:
    """Yield an HDF5 ``events`` file in chunks of at most ``chunk_events`` events."""
    path = check_readable(path)
    chunk_events = check_chunk_size(chunk_events)
    file, count, size = _open_events(path, sensor_size)
    checker = StreamChecker(path, size)
    with file:
        for start in range(0, count, chunk_events):
            with hdf5_errors(path):
                chunk = columns_to_events(file, start, min(start + chunk_events, count), path)
            yield checker.check(chunk)


def write_hdf5_events(
    path: PathLike,
    events: np.ndarray,
    sensor_size: SensorSize | None = None,
    *,
    source: str = "",
) -> None:
    """Write one event stream as an HDF5 file of kind ``events`` (via ``<name>.partial``).

    Args:
        events: ``EVENT_DTYPE`` (or convertible), time-sorted, inside ``sensor_size``.
        sensor_size: ``(W, H, P)`` stored as an attribute, or ``None`` (not stored).
        source: free text stored as the ``source`` attribute.
    """
    import h5py

    size = normalise_sensor_size(sensor_size)
    events = events_for_writing(events, size)
    with atomic_output(path) as partial, h5py.File(partial, "w", libver=LIBVER) as file:
        file.attrs["kind"] = fixed_text(KIND_EVENTS)
        file.attrs["source"] = fixed_text(source)
        if size is not None:
            file.attrs["sensor_size"] = np.asarray(size, dtype=np.int64)
        for name in "xytp":
            file.create_dataset(name, data=np.ascontiguousarray(events[name]))
