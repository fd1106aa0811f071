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
    Random augmentation, ``event_transform(events, rng)`` before framing and
    ``transform(frames, rng)`` after it, draws from one generator seeded with
    ``(seed, epoch, index)``, reproducible in any DataLoader worker.
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
        frames = item if framed else self.framing(item)
        if self.transform is not None:
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
            raise DatasetError(self._no_static())
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
        import dataclasses

        from snn_transfer.events.emulated import emulated_static_frames

        if self.static_pool is None or self.static_planes is None or self.static_spec is None:
            raise DatasetError(self._no_static())
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
        ``path`` (``.npy``) keeps the frames on disk, written to a temporary name and renamed,
        and memory-maps them in later calls, so several processes share one copy; a file
        of the wrong shape is refused. Random augmentation still runs per access: a split
        with an ``event_transform`` keeps its recordings in memory as events (framed per
        access).
        """
        import os
        from pathlib import Path

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
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
                with open(tmp, "wb") as file:
                    np.save(file, frames)
                os.replace(tmp, path)
        memory = FramesArray(frames, np.asarray(source.labels), getattr(source, "names", None))
        for split in (self.train, self.val, self.test):
            if split.event_transform is None:
                split.events = memory
            else:
                split.events = EventsArray(source, split.indices)

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
        own = {k: p.default for k, p in params.items() if p.kind is p.KEYWORD_ONLY}
        return {**own, **STATIC_OPTIONS} if self.has_static else own


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


STATIC_INPUTS = ("image", "emulated")
# options every entry with static images takes, handled here rather than by each entry
STATIC_OPTIONS = {"static_input": "image", "static_emulator": None}


def load_dataset(name: str = "digits", **options: Any) -> PairedData:
    """Build the named dataset. Options are checked against the entry's own list.

    Entries with static images also take ``static_input``: ``image`` (the method: the image
    tiled over T) or ``emulated`` (the image through the saccade emulator, framed like the
    recordings; see :meth:`PairedData.with_emulated_static`), with ``static_emulator`` a
    mapping of ``SaccadeParams`` fields for it.
    """
    entry = dataset_entry(name)
    allowed = entry.options()
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(
            f"dataset {name!r} has no option {', '.join(map(repr, unknown))}; "
            f"its options are: {', '.join(sorted(allowed))}"
        )
    static_input = options.pop("static_input", "image")
    emulator = options.pop("static_emulator", None)
    if static_input not in STATIC_INPUTS:
        raise ConfigError(
            f"static_input = {static_input!r}; choose one of {', '.join(STATIC_INPUTS)}"
        )
    params = emulator_params(emulator, "static_emulator")
    data = entry.build(**options)
    if static_input == "emulated":
        data = data.with_emulated_static(
            params,
            seed=int(options.get("seed", 0)),
            cache_dir=options.get("cache_dir"),
            workers=int(options.get("workers", 1) or 1),
            progress=bool(options.get("progress", True)),
        )
    return data


def emulator_params(fields: Any, key: str):
    """``SaccadeParams`` from a mapping of its fields (None: the defaults); a bad field is a
    ConfigError naming ``key`` and the allowed fields."""
    import dataclasses

    from snn_transfer.events.emulate import SaccadeParams

    if fields is None:
        return SaccadeParams()
    if not isinstance(fields, dict):
        raise ConfigError(f"{key} must be a mapping of saccade emulator parameters")
    allowed = [f.name for f in dataclasses.fields(SaccadeParams)]
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise ConfigError(f"{key} has no field {unknown}; its fields are {', '.join(allowed)}")
    try:
        return SaccadeParams(**fields)
    except (ConfigError, TypeError, ValueError) as error:
        raise ConfigError(f"{key}: {error}") from None


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
    shots: int | None = None,
    augment: Any = (),
    emulator: dict | None = None,
) -> PairedData:
    """Split ``source`` per class into a static pool and emulated event splits.

    Per class (seeded): ``static_share`` of the images form the static pool, the rest are
    emulated and split by ``event_splits`` (the IDX entries take ``static_share`` as an
    option; ``per_class=1600, static_share=0.625`` gives 1,000 static and 600 event images
    per class). ``per_class_limit`` caps the images used per
    class (both sides) to size the dataset to the machine. The static inputs are the images'
    channel (times ``static_scale``, to bring [0, 1] images to the scale of event counts)
    placed at the centre of the event sensor, where the emulator shows them.

    ``shots``: k labelled training recordings per class instead of ``event_fraction``
    (nested: the recordings of k = 1 are among those of k = 3). ``augment``: random training
    augmentation by name (``events.frame_specs.augmentations``: on frames, or on events
    before framing). ``emulator``: ``SaccadeParams`` fields for the recordings (a sensor
    that differs from the emulator's defaults, which are what ``static_input="emulated"``
    applies to the static images).
    """
    from snn_transfer.events.emulated import emulated_dataset
    from snn_transfer.events.frame_specs import augment_names, augmentations
    from snn_transfer.events.splits import per_class_count

    event_splits = event_splits or {"train": 0.6, "val": 0.2, "test": 0.2}

    if not isinstance(time_steps, int) or time_steps < 1:
        raise ConfigError(f"time_steps = {time_steps!r} must be a positive integer")
    event_fraction = _check_fraction("event_fraction", event_fraction)
    static_fraction = _check_fraction("static_fraction", static_fraction)
    if shots is not None and event_fraction != 1.0:
        raise ConfigError(
            f"give shots (recordings per class) or event_fraction, not both: shots = {shots}, "
            f"event_fraction = {event_fraction}"
        )
    if channel != "v" and source.image(0).ndim == 2:
        raise ConfigError(
            f"channel = {channel!r}: the images of {name} are grayscale, so V, gray and blue are "
            "the same plane and the V-channel ablation would change nothing; it needs colour "
            "images (Caltech101, CEP-DVS)"
        )
    params = emulator_params(emulator, "emulator")
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
        params=params,
        seed=seed,
        cache_dir=cache_dir,
        workers=workers,
        progress=progress,
    )
    parts = stratified_split(events.labels, event_splits, seed + 1)
    if shots is not None:
        train = per_class_count(parts["train"], events.labels, shots, seed + 2)
    else:
        train = per_class_fraction(
            parts["train"], events.labels, event_fraction, seed + 2, key="event_fraction"
        )
    framing = ToFrame(sensor_size=(*sensor, 2), n_time_bins=time_steps)
    on_events, on_frames = augmentations(augment, (sensor[1], sensor[0]), (*sensor, 2))
    splits = {k: EventFrames(events, v, framing, seed=seed) for k, v in parts.items()}
    splits["train"] = EventFrames(
        events, train, framing, transform=on_frames, event_transform=on_events, seed=seed
    )

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
            "augment": augment_names(augment),
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
    shots: int | None = None,
    augment: Any = (),
    emulator: dict | None = None,
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
        shots=shots,
        augment=augment,
        emulator=emulator,
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
        shots: int | None = None,
        augment: Any = (),
        emulator: dict | None = None,
        event_splits: dict | None = None,
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
            shots=shots,
            augment=augment,
            emulator=emulator,
            event_splits=_check_event_splits(event_splits),
        )

    return build


def _check_event_splits(splits: dict | None) -> dict[str, float] | None:
    """``{"train": a, "val": b, "test": c}`` with shares >= 0 that sum to 1, or None."""
    if splits is None:
        return None
    ok = isinstance(splits, dict) and set(splits) == {"train", "val", "test"}
    ok = ok and all(isinstance(v, int | float) and v >= 0 for v in splits.values())
    if not ok or abs(sum(splits.values()) - 1.0) > 1e-9:
        raise ConfigError(
            f"event_splits = {splits!r} must give train, val and test shares >= 0 that sum to "
            "1 (default {train: 0.6, val: 0.2, test: 0.2})"
        )
    return {k: float(splits[k]) for k in ("train", "val", "test")}


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
