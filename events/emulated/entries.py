"""The registry entries built by emulation: static images, and disjoint images of the same
classes turned into events by the saccade emulator.

* ``digits`` (the default): scikit-learn's 1,797 real handwritten digits. Per class, half of
  the images form the static pool and the other half are turned into events by the saccade
  emulator and split into train, validation and test. Static and event images are disjoint.
* ``mnist`` and ``fashion-mnist``: the same construction over IDX files (Fashion-MNIST is
  installable from Debian as ``dataset-fashion-mnist``).

Offline: nothing but installed packages or a local IDX folder. The emulated recordings are
built once and cached (``emulated.cached``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from snn_transfer.errors import ConfigError, DatasetError
from snn_transfer.events.checks import fraction, positive_option
from snn_transfer.events.containers import EventFrames, PairedData
from snn_transfer.events.emulated.cached import emulated_dataset
from snn_transfer.events.framing.augment import augment_names, augmentations
from snn_transfer.events.framing.to_frame import ToFrame
from snn_transfer.events.pairing import StaticPool, match_classes
from snn_transfer.events.registry import register_dataset
from snn_transfer.events.saccades import saccade_params
from snn_transfer.events.splits import per_class_count, per_class_fraction, stratified_split
from snn_transfer.events.static import StaticInputSpec, load_digits, load_fashion_mnist, load_mnist


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
    augmentation by name (``events.framing.augment.augmentations``: on frames, or on events
    before framing). ``emulator``: ``SaccadeParams`` fields for the recordings (a sensor
    that differs from the emulator's defaults, which are what ``static_input="emulated"``
    applies to the static images).
    """
    event_splits = event_splits or {"train": 0.6, "val": 0.2, "test": 0.2}

    time_steps = positive_option("time_steps", time_steps)
    event_fraction = fraction("event_fraction", event_fraction)
    static_fraction = fraction("static_fraction", static_fraction)
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
    params = saccade_params(emulator, "emulator")
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


def _idx_entry(name: str, loader: Callable[..., Any], default_root: str | None):
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
        static_share = fraction("static_share", static_share)
        if root is None:
            raise ConfigError(f"dataset {name!r} needs root=<folder with the IDX files>")
        source = loader(root, split="train")
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
            static_share=static_share,
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
)(_idx_entry("mnist", load_mnist, None))
register_dataset(
    "fashion-mnist",
    summary="Fashion-MNIST from local IDX files (Debian: dataset-fashion-mnist), + events",
    layout="root/{train-images-idx3-ubyte,train-labels-idx1-ubyte}[.gz]; default root "
    "/usr/share/datasets/fashion-mnist",
    has_static=True,
)(_idx_entry("fashion-mnist", load_fashion_mnist, "/usr/share/datasets/fashion-mnist"))
