"""Many labelled event streams in one HDF5 file (root attribute ``kind = "event-dataset"``).

Layout:

* ``x``, ``y``, ``t``, ``p``: every sample's events concatenated (``EVENT_DTYPE`` types);
* ``offsets [N+1]`` int64: sample ``i`` is ``offsets[i]:offsets[i+1]``;
* ``labels [N]`` int64: class index of each sample;
* ``names [N]`` UTF-8 strings: where each sample came from (unique);
* ``classes``: dataset (or attribute) of class names, ``labels`` index into it;
* attributes ``sensor_size`` (W, H, P) and ``source``.

``EventDatasetWriter`` appends sample by sample (so a converter or an emulator can stream
into it) to a temporary name (``snn_transfer.atomic``) and renames it into place only on a
successful close.
``EventDataset`` reads it lazily: the file is opened on first access in each process, so a
dataset object can be handed to DataLoader workers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import numpy as np

from snn_transfer.atomic import atomic_output
from snn_transfer.errors import EventFormatError
from snn_transfer.events.core import EVENT_DTYPE, SensorSize
from snn_transfer.events.io.base import (
    PathLike,
    StreamChecker,
    check_readable,
    events_for_writing,
    normalise_sensor_size,
)
from snn_transfer.events.io.hdf5 import (
    KIND_EVENT_DATASET,
    LIBVER,
    check_stored,
    columns_to_events,
    event_columns,
    file_kind,
    fixed_text,
    hdf5_errors,
    open_hdf5,
    sensor_attr,
    text_attr,
)


class EventDatasetWriter:
    """Append labelled event streams to a new ``event-dataset`` HDF5 file.

    Use as a context manager::

        with EventDatasetWriter(path, (240, 180, 2), classes) as writer:
            writer.append(events, label=3, name="airplanes/image_0001.bin")

    The file appears under ``path`` only when the ``with`` block ends without an exception
    (or ``close()`` is called); on an exception the temporary file (``partial``) is deleted.

    Args:
        path: the final file name.
        sensor_size: ``(W, H, P)``; every appended sample is checked against it.
        classes: class names; labels are indices into them.
        source: free text stored as the ``source`` attribute.
        chunk_events: HDF5 chunk length of the event datasets.
        max_name_bytes: longest sample name (UTF-8 bytes). Names and classes are stored
            as fixed-length strings, which HDF5 keeps in checksummed structures (its
            variable-length strings live in an unchecksummed heap).
    """

    def __init__(
        self,
        path: PathLike,
        sensor_size: SensorSize,
        classes: Sequence[str],
        *,
        source: str = "",
        chunk_events: int = 1 << 16,
        max_name_bytes: int = 256,
    ) -> None:
        self.path = Path(path)
        self.partial: Path | None = None
        self._output = None
        self.sensor_size = normalise_sensor_size(sensor_size)
        if self.sensor_size is None:
            raise EventFormatError("an event dataset needs a sensor_size (W, H, P)")
        self.classes = tuple(str(c) for c in classes)
        self.source = source
        self.chunk_events = int(chunk_events)
        self.max_name_bytes = int(max_name_bytes)
        self._file = None
        self._names: set[str] = set()
        self._count = 0

    def __enter__(self) -> EventDatasetWriter:
        self.open()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    def open(self) -> None:
        """Create the temporary file (``partial``) with empty datasets."""
        import h5py

        self._output = atomic_output(self.path)
        self.partial = self._output.__enter__()
        file = h5py.File(self.partial, "w", libver=LIBVER)
        file.attrs["kind"] = fixed_text(KIND_EVENT_DATASET)
        file.attrs["source"] = fixed_text(self.source)
        file.attrs["sensor_size"] = np.asarray(self.sensor_size, dtype=np.int64)
        encoded = [c.encode("utf-8") for c in self.classes]
        class_text = h5py.string_dtype("utf-8", max([len(c) for c in encoded] + [1]))
        file.create_dataset("classes", data=np.array(encoded, dtype=class_text))
        for name in "xytp":
            file.create_dataset(
                name, (0,), dtype=EVENT_DTYPE[name], maxshape=(None,), chunks=(self.chunk_events,)
            )
        file.create_dataset("offsets", data=np.zeros(1, np.int64), maxshape=(None,), chunks=True)
        file.create_dataset("labels", (0,), dtype=np.int64, maxshape=(None,), chunks=True)
        names = h5py.string_dtype("utf-8", self.max_name_bytes)
        file.create_dataset("names", (0,), dtype=names, maxshape=(None,), chunks=True)
        self._file = file

    def __len__(self) -> int:
        return self._count

    def append(self, events: np.ndarray, label: int, name: str) -> int:
        """Append one sample; return its index.

        Args:
            events: ``EVENT_DTYPE`` (or convertible), time-sorted, inside the sensor.
            label: index into ``classes``.
            name: unique name of the sample (e.g. its source file, relative to the root).
        """
        if self._file is None:
            raise RuntimeError("EventDatasetWriter is not open: use it in a with block")
        if not 0 <= int(label) < len(self.classes):
            raise EventFormatError(f"label {label} outside 0..{len(self.classes) - 1}")
        if name in self._names:
            raise EventFormatError(f"sample name {name!r} appended twice")
        if len(name.encode("utf-8")) > self.max_name_bytes:
            raise EventFormatError(
                f"sample name {name!r} is longer than max_name_bytes={self.max_name_bytes}"
            )
        try:
            events = events_for_writing(events, self.sensor_size)
        except EventFormatError as error:
            raise EventFormatError(f"sample {name!r}: {error}") from None
        file, end = self._file, int(self._file["offsets"][-1])
        for field in "xytp":
            file[field].resize((end + len(events),))
            file[field][end:] = events[field]
        row = (("offsets", end + len(events)), ("labels", int(label)), ("names", name.encode()))
        for key, value in row:
            file[key].resize((file[key].shape[0] + 1,))
            file[key][-1] = value
        self._names.add(name)
        self._count += 1
        return self._count - 1

    def close(self) -> None:
        """Finish the file and rename it into place."""
        if self._file is not None:
            self._file.close()
            self._file = None
            output, self._output = self._output, None
            output.__exit__(None, None, None)

    def abort(self) -> None:
        """Close and delete the temporary file, leaving ``path`` untouched."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._output is not None:
            output, self._output = self._output, None
            aborted = RuntimeError("aborted")  # removes the temporary file, raises nothing
            output.__exit__(RuntimeError, aborted, None)


class EventDataset:
    """Read an ``event-dataset`` HDF5 file: ``len``, ``ds[i] -> (events, label)``.

    Metadata (offsets, labels, names, classes, sensor size) is read once at construction;
    events are read on access through a file handle opened lazily per process, so the
    object pickles (the handle is dropped) and works in DataLoader workers.

    Attributes:
        path, sensor_size ``(W, H, P)``, classes (tuple of str), names (tuple of str),
        labels (``[N]`` int64), offsets (``[N+1]`` int64).
    """

    def __init__(self, path: PathLike) -> None:
        self.path = check_readable(path)
        with open_hdf5(self.path) as file, hdf5_errors(self.path):
            kind = file_kind(file, self.path)
            if kind != KIND_EVENT_DATASET:
                raise EventFormatError(
                    f"HDF5 file of kind {kind!r}, not {KIND_EVENT_DATASET!r}", path=self.path
                )
            total = event_columns(file, self.path)
            for key in ("offsets", "labels", "names"):
                if key not in file:
                    raise EventFormatError(f"dataset {key!r} missing", path=self.path)
                check_stored(file[key], self.path)
            self.offsets = np.asarray(file["offsets"][:], dtype=np.int64)
            self.labels = np.asarray(file["labels"][:], dtype=np.int64)
            self.names = tuple(text_attr(n) for n in file["names"][:])
            raw = file["classes"][:] if "classes" in file else file.attrs.get("classes", [])
            self.classes = tuple(text_attr(c) for c in raw)
            self.sensor_size = sensor_attr(file, self.path)
        self._check(total)
        self._file = None
        self._pid: int | None = None

    def _check(self, total: int) -> None:
        n = len(self.labels)
        problem = None
        if len(self.offsets) != n + 1 or len(self.names) != n:
            problem = f"{len(self.offsets)} offsets, {n} labels, {len(self.names)} names"
        elif self.offsets[0] != 0 or self.offsets[-1] != total:
            problem = f"offsets span {self.offsets[0]}..{self.offsets[-1]}, events 0..{total}"
        elif np.any(self.offsets[1:] < self.offsets[:-1]):  # np.diff could overflow
            problem = "offsets decrease"
        elif n and (self.labels.min() < 0 or self.labels.max() >= len(self.classes)):
            problem = f"labels outside 0..{len(self.classes) - 1}"
        if problem:
            raise EventFormatError(f"inconsistent event dataset: {problem}", path=self.path)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        """Sample ``index``: ``(events [n] EVENT_DTYPE with t in us, label int)``."""
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} samples")
        index %= n
        if self._file is None or self._pid != os.getpid():
            self._file = open_hdf5(self.path)
            self._pid = os.getpid()
        start, stop = int(self.offsets[index]), int(self.offsets[index + 1])
        with hdf5_errors(self.path):
            events = columns_to_events(self._file, start, stop, self.path)
        try:
            StreamChecker(self.path, self.sensor_size).check(events)
        except EventFormatError as error:
            raise EventFormatError(
                f"sample {index} ({self.names[index]}): {error.problem}",
                path=self.path,
                index=error.index,
            ) from None
        return events, int(self.labels[index])

    def close(self) -> None:
        """Close the file handle of this process (reopened on the next access)."""
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_file"] = None
        state["_pid"] = None
        return state

    def __repr__(self) -> str:
        return (
            f"EventDataset({str(self.path)!r}, {len(self)} samples, "
            f"{len(self.classes)} classes, sensor_size={self.sensor_size})"
        )
