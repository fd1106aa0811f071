"""Labelled recordings on disk: the sample lists of the real datasets.

:class:`EventFiles` is the sorted list of a dataset's samples (file, optional time window,
label, name, official split) read lazily with our readers; it pickles cheaply, so it can be
handed to worker processes. :class:`FramedFiles` pairs it with a framing pipeline: the
source the frame cache is built from, and the on-the-fly path when no cache is used.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from snn_transfer.errors import DatasetError, EventFormatError
from snn_transfer.events.core import EVENT_DTYPE, SensorSize
from snn_transfer.events.static.images import natural_key

#: Formats read by :func:`read_sample` in addition to ``events.io.FORMATS``.
MAT_FORMAT = "cepdvs-mat"


def sorted_files(folder: Path, suffixes: Sequence[str]) -> list[Path]:
    """Files directly in ``folder`` whose suffix (lower case) is in ``suffixes``, sorted by
    name with numbers compared by value (``img2`` before ``img10``; zero-padded names sort
    as plain strings do)."""
    return sorted(
        (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes),
        key=lambda p: natural_key(p.name),
    )


def sorted_folders(folder: Path) -> list[Path]:
    """Non-hidden subfolders of ``folder``, sorted like :func:`sorted_files`."""
    return sorted(
        (p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: natural_key(p.name),
    )


def read_mat_events(path: str | Path) -> np.ndarray:
    """A CEP-DVS ``.mat`` recording as ``EVENT_DTYPE`` events, time-sorted.

    Assumed content (BrainCog's reader): variables ``x``, ``y``, ``ts`` (microseconds) and
    ``p`` in {-1, 1} (or {0, 1}); MATLAB v5 files through scipy, v7.3 (HDF5) through h5py.
    Events out of time order are sorted (stable).
    """
    path = Path(path)
    try:
        from scipy.io import loadmat

        data = loadmat(path, verify_compressed_data_integrity=False)
    except NotImplementedError:  # MATLAB v7.3 files are HDF5
        import h5py

        with h5py.File(path, "r") as file:
            data = {k: np.asarray(file[k]) for k in file if isinstance(file[k], h5py.Dataset)}
    except FileNotFoundError:
        raise EventFormatError("no such file (check the path)", path=path) from None
    except Exception as error:
        raise EventFormatError(f"cannot read this .mat file ({error})", path=path) from None
    missing = [k for k in ("x", "y", "ts", "p") if k not in data]
    if missing:
        raise EventFormatError(
            f"variables {missing} missing; a CEP-DVS recording holds x, y, ts and p", path=path
        )
    columns = {k: np.asarray(data[k]).reshape(-1) for k in ("x", "y", "ts", "p")}
    sizes = {k: len(v) for k, v in columns.items()}
    if len(set(sizes.values())) != 1:
        raise EventFormatError(f"variables of different lengths {sizes}", path=path)
    events = np.empty(sizes["x"], EVENT_DTYPE)
    for name, key in (("x", "x"), ("y", "y"), ("t", "ts")):
        values = columns[key].astype(np.int64)
        if values.size and values.min() < 0:
            raise EventFormatError(f"negative {key} = {int(values.min())}", path=path)
        if name != "t" and values.size and values.max() > np.iinfo(np.int16).max:
            raise EventFormatError(f"{key} = {int(values.max())} is too large", path=path)
        events[name] = values
    events["p"] = columns["p"] > 0
    if len(events) > 1 and bool(np.any(np.diff(events["t"]) < 0)):
        events = events[np.argsort(events["t"], kind="stable")]
    return events


def read_sample(path: Path, format: str | None, sensor_size: SensorSize | None) -> np.ndarray:
    """One file's events (``EVENT_DTYPE``) with our readers; ``format=None`` detects it."""
    if format == MAT_FORMAT:
        return read_mat_events(path)
    from snn_transfer.events.io import read_events

    return read_events(path, format, sensor_size=sensor_size).events


class Sample(NamedTuple):
    """What a frame source gives for one sample: frames float32 ``[T, P, H, W]``, the number
    of events and the recording's duration in microseconds (-1 where unknown)."""

    frames: np.ndarray
    events: int
    duration_us: int


@dataclass
class EventFiles:
    """The sorted samples of one dataset (or one split of it).

    Attributes:
        root: the dataset folder; ``paths`` are relative to it.
        paths: one file per sample (several samples may share a file, see ``windows``).
        labels: ``[N]`` int64, indices into ``classes``.
        names: unique sample names (relative path, plus ``#k`` for the k-th window).
        splits: the official split of each sample ("train", "test" or "unused").
        classes: class names.
        sensor_size: ``(W, H, P)`` the events are checked against, or None.
        format: reader format name (None: detected per file).
        windows: ``[N, 2]`` int64 ``[t_start, t_end)`` in microseconds cutting a sample out
            of its file (``-1`` for the whole file), or None.
        sizes: byte size of each file, part of the cache key.
    """

    root: Path
    paths: list[str]
    labels: np.ndarray
    names: list[str]
    splits: list[str]
    classes: tuple[str, ...]
    sensor_size: SensorSize | None
    format: str | None = None
    windows: np.ndarray | None = None
    sizes: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        n = len(self.paths)
        if not self.sizes:
            self.sizes = [os.path.getsize(self.root / p) for p in self.paths]
        lengths = {len(self.labels), len(self.names), len(self.splits), len(self.sizes)}
        if self.windows is not None:
            self.windows = np.asarray(self.windows, dtype=np.int64).reshape(-1, 2)
            lengths.add(len(self.windows))
        if lengths != {n}:
            raise ValueError(f"EventFiles: inconsistent lengths {lengths} for {n} paths")
        self._memo: tuple[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, keep: Sequence[int] | np.ndarray) -> EventFiles:
        """The samples at ``keep`` (indices or a boolean mask), in that order."""
        idx = np.asarray(keep)
        idx = np.flatnonzero(idx) if idx.dtype == np.bool_ else idx.astype(np.int64)
        return EventFiles(
            root=self.root,
            paths=[self.paths[i] for i in idx],
            labels=self.labels[idx],
            names=[self.names[i] for i in idx],
            splits=[self.splits[i] for i in idx],
            classes=self.classes,
            sensor_size=self.sensor_size,
            format=self.format,
            windows=None if self.windows is None else self.windows[idx],
            sizes=[self.sizes[i] for i in idx],
        )

    def split(self, name: str) -> EventFiles:
        """The samples of official split ``name``."""
        return self.subset([i for i, s in enumerate(self.splits) if s == name])

    def digest(self) -> str:
        """16 hex digits over the sample names, file sizes and windows, in order."""
        hasher = hashlib.sha256()
        for i, (name, size) in enumerate(zip(self.names, self.sizes, strict=True)):
            window = "" if self.windows is None else f"{self.windows[i, 0]}:{self.windows[i, 1]}"
            hasher.update(f"{name}\t{size}\t{window}\n".encode())
        return hasher.hexdigest()[:16]

    def path(self, index: int) -> Path:
        return self.root / self.paths[index]

    def events(self, index: int) -> np.ndarray:
        """Sample ``index``'s events, ``EVENT_DTYPE`` with t in microseconds."""
        path = self.path(index)
        key = str(path)
        if self._memo is not None and self._memo[0] == key:
            events = self._memo[1]  # consecutive windows of one file: read it once
        else:
            events = read_sample(path, self.format, self.sensor_size)
            self._memo = (key, events) if self.windows is not None else None
        if self.windows is not None and self.windows[index, 0] >= 0:
            start, stop = np.searchsorted(events["t"], self.windows[index], side="left")
            events = events[start:stop]
        return events

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return self.events(index), int(self.labels[index])

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_memo"] = None
        return state


class FramedFiles:
    """An :class:`EventFiles` framed on the fly: ``ds[i] -> (float32 [T, P, H, W], label)``.

    ``load(i)`` also reports the event count and duration; errors name the file.
    """

    def __init__(self, files: EventFiles, pipeline: Any) -> None:
        self.files = files
        self.pipeline = pipeline
        self.labels = files.labels
        self.names = files.names

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int) -> Sample:
        path = self.files.path(index)
        try:
            events = self.files.events(index)
            frames = self.pipeline(events, path=path)
        except (EventFormatError, DatasetError):
            raise
        except (OSError, ValueError) as error:
            raise EventFormatError(f"cannot frame this recording ({error})", path=path) from None
        duration = int(events["t"][-1] - events["t"][0]) if len(events) else 0
        return Sample(frames, len(events), duration)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return self.load(index).frames, int(self.labels[index])
