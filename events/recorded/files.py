"""Labelled recordings on disk: the sample lists of the recorded datasets.

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
from snn_transfer.events.core import SensorSize
from snn_transfer.events.io.cepdvs_mat import MAT_FORMAT, read_mat_events


def read_sample(path: Path, format: str | None, sensor_size: SensorSize | None) -> np.ndarray:
    """One file's events (``EVENT_DTYPE``) with our readers; ``format=None`` detects it."""
    if format == MAT_FORMAT:
        return read_mat_events(path)
    from snn_transfer.events.io.formats import read_events

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
            root = str(self.root)  # joined as strings: a Path per file costs more than its stat
            self.sizes = [os.path.getsize(os.path.join(root, p)) for p in self.paths]
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

    ``load(i)`` also reports the event count and duration (-1 for a source whose samples
    are frames already); errors name the file. ``files`` may be anything with
    ``EventFiles``' interface (``path``, ``events``, ``labels``, ``names``).
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
        if not getattr(events.dtype, "names", None):  # a source that gives frames already
            return Sample(frames, -1, -1)
        duration = int(events["t"][-1] - events["t"][0]) if len(events) else 0
        return Sample(frames, len(events), duration)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return self.load(index).frames, int(self.labels[index])
