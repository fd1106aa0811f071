"""The one loader of every recorded dataset: a description and options -> ``PairedData``.

:func:`register_recorded` puts a :class:`~snn_transfer.events.recorded.description.
RecordedDataset` into the registry with its options (``recorded.options``);
:func:`load_recorded` builds it:

1. list the samples (sorted; missing or incomplete roots raise with the expected layout);
2. frame every official split once into an HDF5 frame cache found by fingerprint (built
   with a progress bar when missing), or frame on the fly with ``cache=False``;
3. carve a seeded, per-class validation split out of the official training split
   (``val_fraction``; 0 = paper parity: no validation split) and keep ``event_fraction`` of
   the rest per class; random augmentation runs on the train split only, per sample;
4. build the static pool from the static twins of the training recordings only (never of
   validation or test recordings), with compact single-channel planes at frame size
   (``recorded.static_side``).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np

from snn_transfer.errors import ConfigError
from snn_transfer.events.cache import CacheSpec, FrameCache, cache_path, default_cache_dir
from snn_transfer.events.cache_build import DEFAULT_SHARD_SIZE, BuildReport, build_cache
from snn_transfer.events.containers import EventFrames, PairedData
from snn_transfer.events.framing.augment import augment_names, augmentations
from snn_transfer.events.framing.pipeline import user_pipeline
from snn_transfer.events.recorded.description import RecordedDataset, missing_root
from snn_transfer.events.recorded.files import EventFiles, FramedFiles
from snn_transfer.events.recorded.options import RecordedOptions, option_defaults, recorded_options
from snn_transfer.events.recorded.static_side import attach_static
from snn_transfer.events.registry import dataset_entry, dataset_names, register_dataset
from snn_transfer.events.splits import per_class_fraction, validation_split


def register_recorded(desc: RecordedDataset) -> RecordedDataset:
    """Register ``desc`` under its name with its options (see ``data/README.md``)."""
    defaults = option_defaults(desc)

    def build(**options: Any) -> PairedData:
        return load_recorded(desc, recorded_options(desc, options))

    build.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v)
            for k, v in defaults.items()
        ]
    )
    build.__name__ = f"load_{desc.name.replace('-', '_')}"
    build.__doc__ = desc.summary
    register_dataset(
        desc.name,
        summary=desc.summary,
        layout=desc.layout,
        has_static=desc.has_static,
        description=desc,
    )(build)
    return desc


def recorded_dataset(name: str) -> RecordedDataset:
    """The description of a recorded dataset, for tools that frame it (``preprocess``)."""
    entry = dataset_entry(name)  # unknown names raise ConfigError listing the registry
    if not isinstance(entry.description, RecordedDataset):
        recorded = [
            n for n in dataset_names() if isinstance(dataset_entry(n).description, RecordedDataset)
        ]
        raise ConfigError(
            f"dataset {name!r} has no event files to preprocess (it is generated); choose one "
            f"of {', '.join(recorded)}"
        )
    return entry.description


def load_recorded(desc: RecordedDataset, options: RecordedOptions) -> PairedData:
    """Build ``desc`` into ``PairedData`` (see the module docstring for the steps)."""
    root = options.root_path
    if root is None:
        raise missing_root(desc.name, None, desc.layout, "no root given (pass root=<folder>)")
    return assemble_recorded(desc, desc.list_samples(root, **options.listing), options)


def frame_pipeline(desc: RecordedDataset, files: Any, options: RecordedOptions) -> Any:
    """The ``FramePipeline`` of a load: a ``framing`` given as a callable (any dataset), or
    the dataset's own pipeline of the named framing."""
    size = options.frame_size(files.sensor_size)
    if callable(options.framing):
        return user_pipeline(options.framing, size)
    return desc.pipeline(options.framing, options.time_steps, size, files.sensor_size)


def assemble_recorded(desc: RecordedDataset, files: Any, options: RecordedOptions) -> PairedData:
    """Steps 2-4 of the module docstring on listed samples: ``files`` is an ``EventFiles``
    or anything with its interface (``recorded.tonic_samples.TonicSamples``)."""
    check_class_coverage(desc, files)
    seed = int(options.seed)
    pipeline = frame_pipeline(desc, files, options)
    sources, info = frame_sources(desc, files, pipeline, options)
    train_src, test_src = sources["train"], sources["test"]
    frame_shape = _frame_shape(train_src)
    labels = np.asarray(train_src.labels)
    if options.val_fraction > 0:
        train_idx, val_idx = validation_split(labels, options.val_fraction, seed)
        info["selection"] = (
            f"validation split: {options.val_fraction:g} of the training split per class (at "
            f"least one), seed {seed}"
        )
    else:
        train_idx, val_idx = np.arange(len(labels)), np.zeros(0, np.int64)
        info["selection"] = (
            "no validation split (val_fraction=0, paper parity): model selection can only use "
            "the test set; report it as such"
        )
    kept = per_class_fraction(
        train_idx, labels, options.event_fraction, seed + 2, key="event_fraction"
    )
    on_events, on_frames = augmentations(options.augment, frame_shape[-2:], files.sensor_size)
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
        augment=augment_names(options.augment),
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
        static_root = options.static_root or (files.root if desc.static.root_default else None)
        if static_root is None:
            info["static"] = (
                f"no static_root given: event-only (pass static_root=<{desc.static.what}>)"
            )
        else:
            static_root = Path(static_root).expanduser()
            attach_static(data, desc, static_root, train_src, train_idx, options)
    return data


def check_class_coverage(desc: RecordedDataset, files: EventFiles) -> None:
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


def cache_split(
    desc: RecordedDataset,
    files: EventFiles,
    split: str,
    pipeline: Any,
    options: RecordedOptions,
    *,
    out: Path | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
) -> tuple[Path, BuildReport, CacheSpec]:
    """Build (or find) the frame cache of official split ``split``: at ``out``, or where
    training looks for it (the cache folder, by fingerprint). Returns its path, the build
    report and its spec."""
    part = files.split(split)
    if len(part) == 0:
        raise missing_root(
            desc.name, files.root, desc.layout, f"no recordings in the {split} split"
        )
    spec = CacheSpec(desc.name, split, part.digest(), len(part), pipeline, options.dtype)
    path = out or cache_path(options.cache_path or default_cache_dir(), spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    report = build_cache(
        path,
        FramedFiles(part, pipeline),
        spec,
        classes=tuple(files.classes),
        sensor_size=files.sensor_size,
        compression=options.compression,
        workers=options.workers,
        shard_size=shard_size,
        on_error=options.on_error,
        progress=options.progress,
    )
    return path, report, spec


def frame_sources(
    desc: RecordedDataset, files: EventFiles, pipeline: Any, options: RecordedOptions
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per official split: a ``FrameCache`` (built if missing) or ``FramedFiles``."""
    sources: dict[str, Any] = {}
    info: dict[str, Any] = {"root": str(files.root), "cache": {}, "skipped": {}}
    for split in desc.splits:
        if not options.cache:
            part = files.split(split)
            if len(part) == 0:
                raise missing_root(
                    desc.name, files.root, desc.layout, f"no recordings in the {split} split"
                )
            sources[split] = FramedFiles(part, pipeline)
            continue
        path, report, spec = cache_split(desc, files, split, pipeline, options)
        sources[split] = FrameCache(path, expect=spec)
        info["cache"][split] = str(path)
        info["skipped"][split] = report.skipped
    return sources, info


def _frame_shape(source: Any) -> tuple[int, int, int, int]:
    if hasattr(source, "frame_shape"):
        return tuple(source.frame_shape)
    return tuple(source[0][0].shape)
