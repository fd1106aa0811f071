"""The dataset registry: every paired dataset the trainer and the CLIs can ask for by name.

An entry knows its static source, its event source, class names, sensor size, splits and how
to build a sample. Callers only ever use :func:`load_dataset` and :func:`dataset_names`; no
dataset-specific branches live anywhere else.

Offline entries (no download, nothing but installed packages or a local IDX folder):

* ``digits`` (the default): scikit-learn's 1,797 real handwritten digits. Per class, half of
  the images form the static pool and the other half are turned into events by the saccade
  emulator and split into train, validation and test. Static and event images are disjoint.
* ``mnist`` and ``fashion-mnist``: the same construction over IDX files (Fashion-MNIST is
  installable from Debian as ``dataset-fashion-mnist``).

Recorded entries (a local root, never downloaded; layouts in ``data/README.md``):
``n-caltech101``, ``n-mnist``, ``cifar10-dvs``, ``dvs-gesture``, ``n-omniglot``, ``cep-dvs``
and ``folder`` (your own recordings). They frame each official split once into an HDF5
frame cache (``events.cache``) and share the options listed by ``snn-events datasets``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from snn_transfer.errors import ConfigError, DatasetError
from snn_transfer.events.core import SensorSize
from snn_transfer.events.framing import ToFrame
from snn_transfer.events.pairing import PairedDataset, StaticPool, match_classes
from snn_transfer.events.splits import per_class_fraction, stratified_split
from snn_transfer.events.static import StaticInputSpec, tile_time

EVENT_SPLITS = ("train", "val", "test")


class EventFrames:
    """One split of an event dataset as frames: ``ds[i] -> (float32 [T, P, H, W], label)``.

    ``events`` is any indexable of ``(event array, label)`` (an ``EventDataset``), framed by
    ``framing``, or of ``(frames, label)`` already (a ``FrameCache`` or ``FramedFiles``),
    passed through as they are; ``framing`` is then what turns a new recording into the
    same frames (kept with a trained model). ``indices`` selects the split.
    ``transform(frames, rng)`` (random augmentation) draws from a generator seeded with
    ``(seed, epoch, index)``, reproducible in any DataLoader worker.
    """

    def __init__(
        self,
        events: Any,
        indices: np.ndarray,
        framing: Callable | None,
        *,
        transform: Callable | None = None,
        seed: int = 0,
    ) -> None:
        self.events = events
        self.indices = np.asarray(indices, dtype=np.int64)
        self.framing = framing
        self.transform = transform
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
        frames = item if framed else self.framing(item)
        if self.transform is not None:
            rng = np.random.default_rng([self.seed, self.epoch, int(i)])
            frames = self.transform(frames, rng)
        return frames, int(label)


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


@dataclass
class PairedData:
    """What :func:`load_dataset` returns: event splits, the static pool and their metadata.

    ``train``, ``val`` and ``test`` are :class:`EventFrames` (``val`` is empty when a
    recorded dataset is loaded with ``val_fraction=0``; ``info["selection"]`` then says that
    model selection can only use the test set); ``static_pool`` is None for event-only
    datasets and when no static images were given. ``sensor_size`` is None for recordings
    without a fixed sensor (CEP-DVS). ``static_planes[k]`` is the single-channel static
    image of pool candidate ``static_pool.indices[k]``, turned into ``[T, 2, H, W]`` by
    :meth:`static_input`.
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

    @property
    def has_static(self) -> bool:
        return self.static_pool is not None

    def static_input(self, index: int) -> np.ndarray:
        """Static source image ``index`` as the SNN input ``float32 [T, 2, H, W]``."""
        if self.static_pool is None or self.static_planes is None:
            raise DatasetError(self._no_static())
        row = int(np.searchsorted(self.static_pool.indices, index))
        if row >= len(self.static_pool.indices) or self.static_pool.indices[row] != index:
            raise DatasetError(f"static image {index} is not in the static pool of {self.name}")
        return tile_time(self.static_planes[row], self.frame_shape[0], self.frame_shape[1])

    def preload(self, path=None) -> None:
        """Frame every event sample once and serve all splits from memory.

        Reading and framing a recording per access costs milliseconds (it dominates the
        training of small models); after ``preload`` a sample is an array lookup.
        ``path`` (``.npy``) keeps the frames on disk, written to a temporary name and renamed,
        and memory-maps them in later calls, so several processes share one copy; a file
        of the wrong shape is refused. Random augmentation (``transform``) still runs per
        access.
        """
        import os
        from pathlib import Path

        source = self.train.events
        if isinstance(source, FramesArray):
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
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
                with open(tmp, "wb") as file:
                    np.save(file, frames)
                os.replace(tmp, path)
        memory = FramesArray(frames, np.asarray(source.labels), getattr(source, "names", None))
        for split in (self.train, self.val, self.test):
            split.events = memory

    def paired(self, *, seed: int = 0) -> PairedDataset:
        """The training split with a fresh class-matched static partner per sample."""
        if self.static_pool is None:
            raise DatasetError(self._no_static())
        return PairedDataset(self.train, self.static_pool, self.static_input, seed=seed)

    def _no_static(self) -> str:
        return (
            f"dataset {self.name!r} has no static images, so the transfer method cannot run "
            "on it; use the baseline mode (event data only)"
        )


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    summary: str
    layout: str
    has_static: bool
    build: Callable[..., PairedData]

    def options(self) -> dict[str, Any]:
        """The options ``load_dataset`` accepts for this entry, with their defaults."""
        params = inspect.signature(self.build).parameters
        return {k: p.default for k, p in params.items() if p.kind is p.KEYWORD_ONLY}


_REGISTRY: dict[str, DatasetEntry] = {}


def register_dataset(name: str, *, summary: str, layout: str, has_static: bool):
    """Decorator: register ``build(**options) -> PairedData`` under ``name``."""

    def decorate(build: Callable[..., PairedData]) -> Callable[..., PairedData]:
        if name in _REGISTRY:
            raise ValueError(f"dataset {name!r} registered twice")
        _REGISTRY[name] = DatasetEntry(name, summary, layout, has_static, build)
        return build

    return decorate


def dataset_names() -> list[str]:
    return sorted(_REGISTRY)


def dataset_entry(name: str) -> DatasetEntry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown dataset {name!r}; available: {', '.join(dataset_names())}"
        ) from None


def load_dataset(name: str = "digits", **options: Any) -> PairedData:
    """Build the named dataset. Options are checked against the entry's own list."""
    entry = dataset_entry(name)
    allowed = entry.options()
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(
            f"dataset {name!r} has no option {', '.join(map(repr, unknown))}; "
            f"its options are: {', '.join(sorted(allowed))}"
        )
    return entry.build(**options)


# --- offline entries: static images, and disjoint images of the same classes emulated ---


def _check_fraction(key: str, value: float) -> float:
    if not isinstance(value, int | float) or not 0.0 < float(value) <= 1.0:
        raise ConfigError(f"{key} = {value!r} is outside (0, 1]; use e.g. {key}=0.1 for 10 %")
    return float(value)


def emulated_pairs(
    name: str,
    source,
    *,
    source_id: str,
    time_steps: int,
    seed: int,
    event_fraction: float,
    static_fraction: float,
    per_class_limit: int | None,
    channel: str,
    static_scale: float,
    cache_dir,
    workers: int,
    progress: bool,
    static_share: float = 0.5,
    event_splits: dict[str, float] | None = None,
    sensor: tuple[int, int] = (34, 34),
) -> PairedData:
    """Split ``source`` per class into a static pool and emulated event splits.

    Per class (seeded): ``static_share`` of the images form the static pool, the rest are
    emulated and split by ``event_splits`` (the IDX entries take ``static_share`` as an
    option; ``per_class=1600, static_share=0.625`` gives 1,000 static and 600 event images
    per class). ``per_class_limit`` caps the images used per
    class (both sides) to size the dataset to the machine. The static inputs are the images'
    channel (times ``static_scale``, to bring [0, 1] images to the scale of event counts)
    placed at the centre of the event sensor, where the emulator shows them.
    """
    from snn_transfer.events.emulated import emulated_dataset

    event_splits = event_splits or {"train": 0.6, "val": 0.2, "test": 0.2}

    if not isinstance(time_steps, int) or time_steps < 1:
        raise ConfigError(f"time_steps = {time_steps!r} must be a positive integer")
    event_fraction = _check_fraction("event_fraction", event_fraction)
    static_fraction = _check_fraction("static_fraction", static_fraction)
    labels = np.asarray(source.labels)
    usable = np.arange(len(labels))
    if per_class_limit is not None:
        usable = np.concatenate(
            [np.flatnonzero(labels == c)[:per_class_limit] for c in np.unique(labels)]
        )
    halves = stratified_split(
        labels[usable], {"static": static_share, "events": 1.0 - static_share}, seed
    )
    static_idx = usable[halves["static"]]
    event_idx = usable[halves["events"]]
    events = emulated_dataset(
        source,
        event_idx,
        source_id=source_id,
        sensor_size=sensor,
        seed=seed,
        cache_dir=cache_dir,
        workers=workers,
        progress=progress,
    )
    parts = stratified_split(events.labels, event_splits, seed + 1)
    train = per_class_fraction(
        parts["train"], events.labels, event_fraction, seed + 2, key="event_fraction"
    )
    framing = ToFrame(sensor_size=(*sensor, 2), n_time_bins=time_steps)
    splits = {k: EventFrames(events, v, framing, seed=seed) for k, v in parts.items()}
    splits["train"] = EventFrames(events, train, framing, seed=seed)

    pool = StaticPool(
        labels,
        match_classes(source.classes, source.classes),
        candidates=static_idx,
        fraction=static_fraction,
        seed=seed + 3,
    )
    image_h, image_w = source.image(0).shape[:2]
    spec = StaticInputSpec(
        size=(image_h, image_w), time_steps=time_steps, channel=channel, scale=static_scale
    )
    planes = np.stack([spec.channel_of(source.image(i)) for i in pool.indices])
    top, left = (sensor[1] - image_h) // 2, (sensor[0] - image_w) // 2
    if top < 0 or left < 0:
        raise DatasetError(
            f"{name}: images of {image_w}x{image_h} do not fit the {sensor[0]}x{sensor[1]} sensor"
        )
    canvas = np.zeros((len(planes), sensor[1], sensor[0]), np.float32)
    canvas[:, top : top + image_h, left : left + image_w] = planes
    return PairedData(
        name=name,
        classes=tuple(source.classes),
        sensor_size=(*sensor, 2),
        frame_shape=(time_steps, 2, sensor[1], sensor[0]),
        train=splits["train"],
        val=splits["val"],
        test=splits["test"],
        static_pool=pool,
        static_spec=spec,
        static_planes=canvas,
        info={
            "static_images": len(pool),
            "event_samples": {k: len(v) for k, v in splits.items()},
            "event_file": str(events.path),
        },
    )


_EMULATED_LAYOUT = (
    "static images from {what}; half of each class is emulated into events on a {w}x{h} "
    "sensor and cached under the cache folder (SNN_TRANSFER_CACHE)"
)


@register_dataset(
    "digits",
    summary="scikit-learn's 1,797 real handwritten digits, static + emulated events (offline)",
    layout=_EMULATED_LAYOUT.format(what="scikit-learn (installed)", w=34, h=34),
    has_static=True,
)
def _digits(
    *,
    time_steps: int = 8,
    seed: int = 0,
    event_fraction: float = 1.0,
    static_fraction: float = 1.0,
    per_class: int | None = None,
    channel: str = "v",
    static_scale: float = 1.0,
    cache_dir: str | None = None,
    workers: int = 1,
    progress: bool = True,
) -> PairedData:
    from snn_transfer.events.static import load_digits

    return emulated_pairs(
        "digits",
        load_digits(),
        source_id="sklearn-digits",
        time_steps=time_steps,
        seed=seed,
        event_fraction=event_fraction,
        static_fraction=static_fraction,
        per_class_limit=per_class,
        channel=channel,
        static_scale=static_scale,
        cache_dir=cache_dir,
        workers=workers,
        progress=progress,
    )


def _idx_entry(name: str, loader_name: str, default_root: str | None):
    def build(
        *,
        root: str | None = default_root,
        time_steps: int = 8,
        seed: int = 0,
        event_fraction: float = 1.0,
        static_fraction: float = 1.0,
        per_class: int = 1600,
        static_share: float = 0.5,
        channel: str = "v",
        static_scale: float = 1.0,
        cache_dir: str | None = None,
        workers: int = 1,
        progress: bool = True,
    ) -> PairedData:
        from snn_transfer.events import static

        if not isinstance(static_share, int | float) or not 0.0 < static_share < 1.0:
            raise ConfigError(
                f"static_share = {static_share!r} must be in (0, 1): the share of each "
                "class's images kept as static images (the rest become events)"
            )
        if root is None:
            raise ConfigError(f"dataset {name!r} needs root=<folder with the IDX files>")
        source = getattr(static, loader_name)(root, split="train")
        return emulated_pairs(
            name,
            source,
            source_id=name,
            time_steps=time_steps,
            seed=seed,
            event_fraction=event_fraction,
            static_fraction=static_fraction,
            per_class_limit=per_class,
            channel=channel,
            static_scale=static_scale,
            cache_dir=cache_dir,
            workers=workers,
            progress=progress,
            static_share=float(static_share),
        )

    return build


register_dataset(
    "mnist",
    summary="MNIST from local IDX files, static + emulated events",
    layout="root/{train-images-idx3-ubyte,train-labels-idx1-ubyte}[.gz] (or root/raw/...)",
    has_static=True,
)(_idx_entry("mnist", "load_mnist", None))
register_dataset(
    "fashion-mnist",
    summary="Fashion-MNIST from local IDX files (Debian: dataset-fashion-mnist), + events",
    layout="root/{train-images-idx3-ubyte,train-labels-idx1-ubyte}[.gz]; default root "
    "/usr/share/datasets/fashion-mnist",
    has_static=True,
)(_idx_entry("fashion-mnist", "load_fashion_mnist", "/usr/share/datasets/fashion-mnist"))


# --- recorded datasets (registered on import; see events/real.py and data/README.md) ---

from snn_transfer.events import real_entries, real_entries_extra  # noqa: E402, F401
