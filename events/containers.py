"""What the dataset registry serves: event splits as frames and the paired data of a dataset.

* :class:`EventFrames`: one split as frames, ``ds[i] -> (float32 [T, P, H, W], label)``,
  framing recordings on access or passing cached frames through, with per-sample random
  augmentation.
* :class:`FramesArray` and :class:`EventsArray`: samples held in memory (frames, or events
  for splits augmented before framing), what :meth:`PairedData.preload` swaps in.
* :class:`PairedData`: what ``load_dataset`` returns: the three event splits, the static
  pool and its planes, the class names and the frame shape.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from snn_transfer.atomic import save_array
from snn_transfer.errors import ConfigError, DatasetError
from snn_transfer.events.checks import check_picklable, describe_object, float_frames
from snn_transfer.events.core import SensorSize
from snn_transfer.events.pairing import PairedDataset, StaticPool
from snn_transfer.events.static import StaticInputSpec, tile_time


class EventFrames:
    """One split of an event dataset as frames: ``ds[i] -> (float32 [T, P, H, W], label)``.

    ``events`` is any indexable of ``(event array, label)`` (an ``EventDataset``), framed by
    ``framing``, or of ``(frames, label)`` already (a ``FrameCache`` or ``FramedFiles``),
    passed through as they are; ``framing`` is then what turns a new recording into the
    same frames (kept with a trained model). ``indices`` selects the split.
    Random augmentation, ``event_transform(events, rng)`` before framing and
    ``transform(frames, rng)`` after it, draws from one generator seeded with
    ``(seed, epoch, index)``, reproducible in any DataLoader worker. Frames of any real
    dtype (Tonic's ``ToFrame`` gives int16) are served as float32; anything else is refused
    with a ``ConfigError`` naming the sample, instead of a dtype error deep in the model.
    """

    def __init__(
        self,
        events: Any,
        indices: np.ndarray,
        framing: Callable | None,
        *,
        transform: Callable | None = None,
        event_transform: Callable | None = None,
        seed: int = 0,
    ) -> None:
        self.events = events
        self.indices = np.asarray(indices, dtype=np.int64)
        self.framing = framing
        self.transform = transform
        self.event_transform = event_transform
        self.seed = int(seed)
        self.epoch = 0

    @property
    def labels(self) -> np.ndarray:
        """Labels of the split's samples, ``[N]`` int64 (read without touching events)."""
        return np.asarray(self.events.labels)[self.indices]

    @property
    def names(self) -> list[str]:
        """Source recording of each sample of the split (where the source names them)."""
        names = self.events.names
        return [names[int(i)] for i in self.indices]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        item, label = self.events[int(self.indices[i])]
        framed = self.framing is None or not getattr(item.dtype, "names", None)
        rng = None
        if self.transform is not None or self.event_transform is not None:
            rng = np.random.default_rng([self.seed, self.epoch, int(i)])
        if self.event_transform is not None and not framed:
            item = self.event_transform(item, rng)
            if not getattr(getattr(item, "dtype", None), "names", None):
                raise ConfigError(
                    f"sample {i}: the event augmentation {describe_object(self.event_transform)} "
                    "returned no event array; an augmentation of events must return events "
                    "(framings go into framing=, frame augmentations after it)"
                )
        frames = item if framed else self.framing(item)
        if not (isinstance(frames, np.ndarray) and frames.dtype == np.float32):
            frames = float_frames(frames, f"sample {i} of {type(self.events).__name__}")
        if self.transform is not None:
            frames = self.transform(frames, rng)
        return frames, int(label)

    def check_picklable(self, split: str) -> None:
        """Refuse a framing or transform that cannot be pickled (``checks.check_picklable``):
        the checkpoint keeps the framing, worker processes receive the transforms."""
        for what, value in (
            ("framing", self.framing),
            ("transform", self.transform),
            ("event_transform", self.event_transform),
        ):
            if value is not None:
                check_picklable(f"the {split} split's {what}", value)


class FramesArray:
    """Samples as frames from one array ``[N, T, P, H, W]`` (in memory or memory-mapped):
    ``ds[i] -> (float32 frames, label)``, the source :meth:`PairedData.preload` swaps in."""

    def __init__(self, frames: np.ndarray, labels: np.ndarray, names) -> None:
        self.frames = frames
        self.labels = np.asarray(labels)
        self.names = names

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return np.array(self.frames[index], dtype=np.float32), int(self.labels[index])


class EventsArray:
    """Recordings held in memory as one concatenated stream plus offsets: ``ds[i] ->
    (events, label)`` by slicing, the source :meth:`PairedData.preload` keeps for a split
    whose augmentation works on events (reading a recording from HDF5 costs milliseconds).
    Only the recordings at ``indices`` (sorted) are held; the others raise ``KeyError``."""

    def __init__(self, source, indices: np.ndarray) -> None:
        self.held = np.unique(np.asarray(indices, dtype=np.int64))
        streams = [source[int(i)][0] for i in self.held]
        self.offsets = np.zeros(len(streams) + 1, np.int64)
        self.offsets[1:] = np.cumsum([len(s) for s in streams])
        self.events = np.concatenate(streams) if streams else np.zeros(0, source[0][0].dtype)
        self.labels = np.asarray(source.labels)
        self.names = getattr(source, "names", None)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        row = int(np.searchsorted(self.held, index))
        if row >= len(self.held) or self.held[row] != index:
            raise KeyError(f"recording {index} is not held in memory")
        start, stop = self.offsets[row], self.offsets[row + 1]
        return self.events[start:stop], int(self.labels[index])


@dataclass
class PairedData:
    """What :func:`load_dataset` returns: event splits, the static pool and their metadata.

    ``train``, ``val`` and ``test`` are :class:`EventFrames` (``val`` is empty when a
    recorded dataset is loaded with ``val_fraction=0``; ``info["selection"]`` then says that
    model selection can only use the test set); ``static_pool`` is None for event-only
    datasets and when no static images were given. ``sensor_size`` is None for recordings
    without a fixed sensor (CEP-DVS). ``static_planes[k]`` is the single-channel static
    image of pool candidate ``static_pool.indices[k]``, turned into ``[T, 2, H, W]`` by
    :meth:`static_input`; ``static_frames[k]`` ``[T, 2, H, W]``, when set (by
    :meth:`with_emulated_static`), is served instead.
    """

    name: str
    classes: tuple[str, ...]
    sensor_size: SensorSize | None
    frame_shape: tuple[int, int, int, int]
    train: EventFrames
    val: EventFrames
    test: EventFrames
    static_pool: StaticPool | None = None
    static_spec: StaticInputSpec | None = None
    static_planes: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)
    static_frames: np.ndarray | None = None

    @property
    def has_static(self) -> bool:
        return self.static_pool is not None

    def static_input(self, index: int) -> np.ndarray:
        """Static source image ``index`` as the SNN input ``float32 [T, 2, H, W]``."""
        if self.static_pool is None or self.static_planes is None:
            raise DatasetError(self.no_static_message())
        row = int(np.searchsorted(self.static_pool.indices, index))
        if row >= len(self.static_pool.indices) or self.static_pool.indices[row] != index:
            raise DatasetError(f"static image {index} is not in the static pool of {self.name}")
        if self.static_frames is not None:
            return np.array(self.static_frames[row], dtype=np.float32)
        return tile_time(self.static_planes[row], self.frame_shape[0], self.frame_shape[1])

    def with_emulated_static(
        self,
        params=None,
        *,
        seed: int = 0,
        cache_dir=None,
        workers: int = 1,
        progress: bool = True,
    ) -> PairedData:
        """A copy whose static inputs are the static images through the saccade emulator
        (``SaccadeParams`` ``params``), framed into T time bins like event recordings: the
        static branch (and static pretraining) then sees event-like inputs of every static
        image. The planes are emulated as they are (their ``[0, 1]`` values, undoing
        ``scale``) on a sensor of the frame size; the frames are built once and cached."""
        from snn_transfer.events.emulated.cached import emulated_static_frames

        if self.static_pool is None or self.static_planes is None or self.static_spec is None:
            raise DatasetError(self.no_static_message())
        planes = np.asarray(self.static_planes, dtype=np.float32)
        if self.static_spec.target_mean is None:
            unit = planes / np.float32(self.static_spec.scale)
        else:
            peak = planes.reshape(len(planes), -1).max(axis=1).clip(min=1e-6)
            unit = planes / peak[:, None, None]
        frames = emulated_static_frames(
            np.clip(unit, 0.0, 1.0),
            self.frame_shape[0],
            params=params,
            seed=seed,
            cache_dir=cache_dir,
            workers=workers,
            progress=progress,
        )
        info = {**self.info, "static_input": "emulated"}
        return dataclasses.replace(self, static_frames=frames, info=info)

    def preload(self, path=None) -> None:
        """Frame every event sample once and serve all splits from memory.

        Reading and framing a recording per access costs milliseconds (it dominates the
        training of small models); after ``preload`` a sample is an array lookup.
        ``path`` (``.npy``) keeps the frames on disk, written atomically, and memory-maps them in later calls, so several processes share one copy; a file
        of the wrong shape is refused. Random augmentation still runs per access: a split
        with an ``event_transform`` keeps its recordings in memory as events (framed per
        access).
        """
        source = self.train.events
        if isinstance(self.test.events, FramesArray):
            return
        if any(split.events is not source for split in (self.val, self.test)):
            raise DatasetError(f"{self.name}: the splits do not share one event source")
        shape = (len(source), *self.frame_shape)
        path = Path(path) if path is not None else None
        if path is not None and path.is_file():
            frames = np.load(path, mmap_mode="r")
            if frames.shape != shape or frames.dtype != np.float32:
                raise DatasetError(
                    f"{path}: preloaded frames {frames.shape} {frames.dtype} do not match "
                    f"{shape} float32 of {self.name}; delete the file to frame again"
                )
        else:
            frames = np.empty(shape, np.float32)
            framing = self.train.framing
            for i in range(len(source)):
                item, _ = source[i]
                framed = framing is None or not getattr(item.dtype, "names", None)
                frames[i] = item if framed else framing(item)
            if path is not None:
                save_array(path, frames)
        memory = FramesArray(frames, np.asarray(source.labels), getattr(source, "names", None))
        for split in (self.train, self.val, self.test):
            if split.event_transform is None:
                split.events = memory
            else:
                split.events = EventsArray(source, split.indices)

    def paired(self, *, seed: int = 0) -> PairedDataset:
        """The training split with a fresh class-matched static partner per sample."""
        if self.static_pool is None:
            raise DatasetError(self.no_static_message())
        return PairedDataset(self.train, self.static_pool, self.static_input, seed=seed)

    def check_picklable(self) -> None:
        """Refuse, before training starts, a framing or transform of any split that cannot
        be pickled (a lambda): the first checkpoint or worker process would fail on it."""
        for split in ("train", "val", "test"):
            frames = getattr(self, split)
            if isinstance(frames, EventFrames):
                frames.check_picklable(split)

    def no_static_message(self) -> str:
        why = self.info.get("static")
        return (
            f"dataset {self.name!r} has no static images, so the transfer method cannot run "
            "on it; use the baseline mode (event data only)" + (f" ({why})" if why else "")
        )
