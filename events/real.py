"""Recorded event datasets in the registry: one generic loader driven by a description.

A :class:`RealDataset` says where a dataset's files are (``list_samples``), how they are
framed, what its official splits and default options are, and where its static partner
images come from (:class:`StaticSide`). :func:`register_real` puts it into the registry with
the common options; :func:`load_real` turns it into :class:`~snn_transfer.events.datasets.
PairedData`:

1. list the samples (sorted; missing or incomplete roots raise with the expected layout);
2. frame every official split once into an HDF5 frame cache found by fingerprint (built
   with a progress bar when missing), or frame on the fly with ``cache=False``;
3. carve a seeded, per-class validation split out of the official training split
   (``val_fraction``; 0 = paper parity: no validation split) and keep ``event_fraction`` of
   the rest per class; random augmentation runs on the train split only, per sample;
4. build the static pool from the static twins of the training recordings only (never of
   validation or test recordings), with compact single-channel planes at frame size.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from snn_transfer.errors import ConfigError, DatasetError
from snn_transfer.events.core import SensorSize
from snn_transfer.events.samples import EventFiles, FramedFiles

FRAMINGS = ("default", "paper")
DATA_README = "data/README.md"


@dataclass(frozen=True)
class StaticSide:
    """Where a dataset's static partner images come from and how they pair with recordings.

    Attributes:
        what: a short name for messages ("Caltech101 images").
        load: ``load(static_root, event_classes) -> StaticImages``.
        event_key / static_key: twin keys; a recording and an image with the same key show
            the same picture. None: no file-level correspondence (every image may partner).
        twins_only: the pool holds only twins of training recordings (True), or every image
            except the twins of held-out recordings (False).
        order: ``StaticInputSpec.order`` ("resize_first" or "channel_first").
        prepare: optional ``image -> image`` applied before resizing (e.g. padding).
        root_default: the static images live under the event root itself (CEP-DVS).
    """

    what: str
    load: Callable[[Path, tuple[str, ...]], Any]
    event_key: Callable[[str], str] | None = None
    static_key: Callable[[Any, int], str] | None = None
    twins_only: bool = True
    order: str = "resize_first"
    prepare: Callable[[np.ndarray], np.ndarray] | None = None
    root_default: bool = False


@dataclass(frozen=True)
class RealDataset:
    """Everything the generic loader needs to know about one recorded dataset."""

    name: str
    summary: str
    layout: str
    list_samples: Callable[..., EventFiles]
    pipeline: Callable[[str, int, tuple[int, int] | None, SensorSize | None], Any]
    split_rule: str
    time_steps: int
    size: int | None
    augment: tuple[str, ...] = ()
    splits: tuple[str, ...] = ("train", "test")
    static: StaticSide | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def missing_root(desc_name: str, root: Any, layout: str, problem: str) -> DatasetError:
    """The error for a missing or incomplete dataset folder: problem, layout, pointer."""
    return DatasetError(
        f"{desc_name}: {problem}\nexpected layout under root={root}:\n{layout.rstrip()}\n"
        f"nothing is downloaded: get the files as described in {DATA_README} and pass the "
        "folder as root"
    )


def _common_options(desc: RealDataset) -> dict[str, Any]:
    options: dict[str, Any] = {
        "root": None,
        "time_steps": desc.time_steps,
        "size": desc.size,
        "seed": 0,
        "event_fraction": 1.0,
        "val_fraction": 0.1,
        "framing": "default",
        "augment": desc.augment,
    }
    if desc.static is not None:
        options.update(static_root=None, static_fraction=1.0, channel="v")
    options.update(desc.extra)
    options.update(
        cache=True,
        cache_dir=None,
        dtype="float32",
        compression="none",
        workers=1,
        progress=True,
        on_error="fail",
    )
    return options


def register_real(desc: RealDataset) -> RealDataset:
    """Register ``desc`` under its name with the common options (see ``data/README.md``)."""
    from snn_transfer.events.datasets import register_dataset

    defaults = _common_options(desc)

    def build(**options: Any) -> Any:
        return load_real(desc, **{**defaults, **options})

    build.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v)
            for k, v in defaults.items()
        ]
    )
    build.__name__ = f"load_{desc.name.replace('-', '_')}"
    build.__doc__ = desc.summary
    register_dataset(
        desc.name, summary=desc.summary, layout=desc.layout, has_static=desc.static is not None
    )(build)
    _DESCRIPTIONS[desc.name] = desc
    return desc


_DESCRIPTIONS: dict[str, RealDataset] = {}


def real_dataset(name: str) -> RealDataset:
    """The description of a recorded dataset, for tools that frame it (``preprocess``)."""
    from snn_transfer.events import datasets

    datasets.dataset_entry(name)  # unknown names raise ConfigError listing the registry
    if name not in _DESCRIPTIONS:
        raise ConfigError(
            f"dataset {name!r} has no event files to preprocess (it is generated); choose one "
            f"of {', '.join(sorted(_DESCRIPTIONS))}"
        )
    return _DESCRIPTIONS[name]


def frame_size(size: Any, sensor: SensorSize | None) -> tuple[int, int] | None:
    """``size`` option -> (H, W): an int, a pair, or None (the sensor's own size)."""
    if size is None:
        return None if sensor is None else (int(sensor[1]), int(sensor[0]))
    pair = (size, size) if isinstance(size, int) and not isinstance(size, bool) else size
    if (
        not isinstance(pair, list | tuple)
        or len(pair) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in pair)
    ):
        raise ConfigError(f"size = {size!r} must be a positive int (e.g. 48), (H, W) or None")
    return (int(pair[0]), int(pair[1]))


def standard_pipeline(
    shift_xy: bool = False,
) -> Callable[[str, int, tuple[int, int] | None, SensorSize | None], Any]:
    """The usual framings: ``default`` = ``ToFrame(n_time_bins=T)`` on the sensor, then a
    bilinear, antialiased resize to ``size`` (no resize at the sensor's size; without a
    sensor size, :class:`ExtentFrames`); ``paper`` = ``PaperFrames`` (``shift_xy`` as the
    reference does for N-Caltech101)."""

    def pipeline(mode: str, steps: int, size: tuple[int, int] | None, sensor: SensorSize | None):
        from snn_transfer.events.frame_specs import ExtentFrames, FramePipeline
        from snn_transfer.events.framing import PaperFrames, ToFrame
        from snn_transfer.events.transforms import Resize

        if mode == "paper":
            if size is None:
                raise ConfigError("framing='paper' needs a frame size: pass size=48")
            return FramePipeline(PaperFrames(steps, size=size, shift_xy=shift_xy))
        if sensor is None:
            if size is None:
                raise ConfigError("recordings without a fixed sensor size need size=<int>")
            return FramePipeline(ExtentFrames(steps, size=size))
        native = (int(sensor[1]), int(sensor[0]))
        framing = ToFrame(sensor_size=tuple(sensor), n_time_bins=steps)
        if size is None or size == native:
            return FramePipeline(framing)
        return FramePipeline(framing, (Resize(size, antialias=True),))

    return pipeline


def _check(options: dict[str, Any]) -> None:
    steps = options["time_steps"]
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"time_steps = {steps!r} must be a positive integer")
    if options["framing"] not in FRAMINGS:
        raise ConfigError(f"framing = {options['framing']!r}; choose 'default' or 'paper'")
    fraction = options["event_fraction"]
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 < fraction <= 1:
        raise ConfigError(f"event_fraction = {fraction!r} is outside (0, 1]; e.g. 0.1 for 10 %")
    val = options["val_fraction"]
    if isinstance(val, bool) or not isinstance(val, int | float) or not 0 <= val < 1:
        raise ConfigError(f"val_fraction = {val!r} must be in [0, 1); 0 means no validation split")


def load_real(desc: RealDataset, **options: Any) -> Any:
    """Build ``desc`` into ``PairedData`` (see the module docstring for the steps)."""
    from snn_transfer.events.datasets import EventFrames, PairedData
    from snn_transfer.events.frame_specs import augment_names, augmentations
    from snn_transfer.events.splits import per_class_fraction

    _check(options)
    root = options["root"]
    if root is None:
        raise missing_root(desc.name, None, desc.layout, "no root given (pass root=<folder>)")
    root = Path(root).expanduser()
    extra = {k: options[k] for k in desc.extra}
    files = desc.list_samples(root, **extra)
    check_class_coverage(desc, files)
    steps, seed = options["time_steps"], int(options["seed"])
    size = frame_size(options["size"], files.sensor_size)
    pipeline = desc.pipeline(options["framing"], steps, size, files.sensor_size)
    sources, info = frame_sources(desc, files, pipeline, options)
    train_src, test_src = sources["train"], sources["test"]
    frame_shape = _frame_shape(train_src)
    labels = np.asarray(train_src.labels)
    everything = np.arange(len(labels))
    if options["val_fraction"] > 0:
        vf = float(options["val_fraction"])
        train_idx, val_idx = validation_split(labels, vf, seed)
        info["selection"] = (
            f"validation split: {vf:g} of the training split per class (at least one), seed {seed}"
        )
    else:
        train_idx, val_idx = everything, np.zeros(0, np.int64)
        info["selection"] = (
            "no validation split (val_fraction=0, paper parity): model selection can only use "
            "the test set; report it as such"
        )
    kept = per_class_fraction(
        train_idx, labels, float(options["event_fraction"]), seed + 2, key="event_fraction"
    )
    names = augment_names(options["augment"])
    on_events, on_frames = augmentations(names, frame_shape[-2:], files.sensor_size)
    # sources give frames; the pipeline rides along to frame new recordings the same way.
    # Augmentation on events needs the recordings themselves: the training split then reads
    # and frames its files per access instead of using the frame cache.
    events_src = files.split("train") if on_events is not None else train_src
    train = EventFrames(
        events_src, kept, pipeline, transform=on_frames, event_transform=on_events, seed=seed
    )
    val = EventFrames(train_src, val_idx, pipeline, seed=seed)
    test = EventFrames(test_src, np.arange(len(test_src.labels)), pipeline, seed=seed)
    info.update(
        split_rule=desc.split_rule,
        event_samples={"train": len(train), "val": len(val), "test": len(test)},
        augment=names,
        framing=pipeline.fields(),
    )
    data = PairedData(
        name=desc.name,
        classes=tuple(files.classes),
        sensor_size=files.sensor_size,
        frame_shape=frame_shape,
        train=train,
        val=val,
        test=test,
        info=info,
    )
    if desc.static is not None:
        static_root = options["static_root"] or (root if desc.static.root_default else None)
        if static_root is None:
            info["static"] = (
                f"no static_root given: event-only (pass static_root=<{desc.static.what}>)"
            )
        else:
            from snn_transfer.events.real_static import attach_static

            attach_static(data, desc, Path(static_root).expanduser(), train_src, train_idx, options)
    return data


def check_class_coverage(desc: RealDataset, files: EventFiles) -> None:
    """Every class needs at least one recording in the train split.

    A class whose folder is empty or missing, or whose recordings all fall into another
    split, can never be learned; training would go ahead with a class the model never sees.
    The error names the root and the classes, each with where its recordings are.
    """
    labels = np.asarray(files.labels, dtype=np.int64)
    in_train = np.asarray(files.splits) == "train"
    total = np.bincount(labels, minlength=len(files.classes))
    train = np.bincount(labels[in_train], minlength=len(files.classes))
    empty = [c for c, n in zip(files.classes, total, strict=False) if n == 0]
    elsewhere = [
        f"{c} ({n} outside train)"
        for c, n, k in zip(files.classes, total, train, strict=False)
        if n and not k
    ]
    if not empty and not elsewhere:
        return
    problems = []
    if empty:
        problems.append(
            f"{len(empty)} of {len(files.classes)} classes have no recordings (empty or "
            f"missing class folders): {_first(empty)}"
        )
    if elsewhere:
        problems.append(f"classes with no recording in the train split: {_first(elsewhere)}")
    raise missing_root(
        desc.name,
        files.root,
        desc.layout,
        f"under {files.root}, " + "; ".join(problems) + "; every class needs at least one "
        "training recording",
    )


def _first(names: list[str], shown: int = 10) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def validation_split(labels: np.ndarray, fraction: float, seed: int):
    """Per class, ``max(1, round(fraction * n))`` seeded random samples for validation, but
    always at least one left for training (none for a class with a single sample); returns
    sorted ``(train, val)`` index arrays."""
    rng = np.random.default_rng([seed, 7])
    train, val = [], []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        members = members[rng.permutation(len(members))]
        n_val = 0 if len(members) < 2 else max(1, round(fraction * len(members)))
        n_val = min(n_val, len(members) - 1)  # round(0.75 * 2) = 2 would leave none
        val.append(members[:n_val])
        train.append(members[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def frame_sources(desc: RealDataset, files: EventFiles, pipeline: Any, options: dict[str, Any]):
    """Per official split: a ``FrameCache`` (built if missing) or ``FramedFiles``."""
    from snn_transfer.events.cache import CacheSpec, FrameCache, cache_path, check_compression
    from snn_transfer.events.cache_build import build_cache
    from snn_transfer.events.emulated import default_cache_dir

    check_compression(options["compression"])
    cache_dir = Path(options["cache_dir"]).expanduser() if options["cache_dir"] else None
    sources: dict[str, Any] = {}
    info: dict[str, Any] = {"root": str(files.root), "cache": {}, "skipped": {}}
    for split in desc.splits:
        part = files.split(split)
        if len(part) == 0:
            raise missing_root(
                desc.name, files.root, desc.layout, f"no recordings in the {split} split"
            )
        framed = FramedFiles(part, pipeline)
        if not options["cache"]:
            sources[split] = framed
            continue
        spec = CacheSpec(desc.name, split, part.digest(), len(part), pipeline, options["dtype"])
        path = cache_path(cache_dir or default_cache_dir(), spec)
        path.parent.mkdir(parents=True, exist_ok=True)
        report = build_cache(
            path,
            framed,
            spec,
            classes=tuple(files.classes),
            sensor_size=files.sensor_size,
            compression=options["compression"],
            workers=options["workers"],
            on_error=options["on_error"],
            progress=options["progress"],
        )
        sources[split] = FrameCache(path, expect=spec)
        info["cache"][split] = str(path)
        info["skipped"][split] = report.skipped
    return sources, info


def _frame_shape(source: Any) -> tuple[int, int, int, int]:
    if hasattr(source, "frame_shape"):
        return tuple(source.frame_shape)
    return tuple(source[0][0].shape)


def planes_digest(*parts: Any) -> str:
    """16 hex digits over ``parts`` (strings / sequences of strings), for cache file names."""
    hasher = hashlib.sha256()
    for part in parts:
        text = "\n".join(part) if isinstance(part, list | tuple) else str(part)
        hasher.update(text.encode() + b"\0")
    return hasher.hexdigest()[:16]


def save_atomic(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial.npy")
    np.save(partial, array)
    os.replace(partial, path)
