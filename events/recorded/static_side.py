"""The static side of recorded datasets: a pool that never holds a held-out recording's twin.

Many event datasets are re-recordings of image datasets (N-Caltech101 of Caltech101,
N-MNIST of MNIST, N-Omniglot of Omniglot, CEP-DVS of its own images). An image whose
recording is in the validation or test split must never be drawn as a partner, or the
static branch sees the held-out picture. The pool is therefore built from twin keys: with
``twins_only`` it holds exactly the twins of the training recordings (the recordings left
after the validation split is carved out, before ``event_fraction``), otherwise every image
except the twins of held-out recordings (for user folders without full correspondence).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from snn_transfer.atomic import save_array
from snn_transfer.errors import DatasetError
from snn_transfer.events.cache import default_cache_dir
from snn_transfer.events.pairing import StaticPool, match_classes
from snn_transfer.events.recorded.description import DATA_README, RecordedDataset
from snn_transfer.events.static import StaticInputSpec


def _twin_rows(
    desc: RecordedDataset, images: Any, event_names: list[str], held_out: list[str]
) -> np.ndarray:
    """Indices of the static images that may partner (see the module docstring)."""
    side = desc.static
    if side.event_key is None or side.static_key is None:
        return np.arange(len(images))
    keys = [side.static_key(images, i) for i in range(len(images))]
    if side.twins_only:
        wanted = {side.event_key(n) for n in event_names}
        rows = [i for i, k in enumerate(keys) if k in wanted]
        if not rows:
            raise DatasetError(
                f"{desc.name}: none of the {len(images)} {side.what} is the twin of a training "
                f"recording (e.g. recording {event_names[0]!r} -> key "
                f"{side.event_key(event_names[0])!r}, image key {keys[0]!r}); check that "
                "static_root holds the images these recordings were made from"
            )
    else:
        banned = {side.event_key(n) for n in held_out}
        rows = [i for i, k in enumerate(keys) if k not in banned]
    return np.asarray(rows, np.int64)


def _check_twin_classes(
    desc: RecordedDataset, images: Any, rows: np.ndarray, event_classes, names_by_key
) -> None:
    """Twins must show the same class; a mismatch means the twin rule does not hold."""
    side = desc.static
    if side.static_key is None:
        return
    wrong = []
    for i in rows:
        event_class = names_by_key.get(side.static_key(images, int(i)))
        if event_class is not None and images.classes[images.labels[i]] != event_class:
            wrong.append(f"{images.names[i]} ({images.classes[images.labels[i]]} vs {event_class})")
    if wrong:
        raise DatasetError(
            f"{desc.name}: {len(wrong)} {side.what} have another class than their recording "
            f"twin, e.g. {wrong[:3]}; the pairing of recordings and images by file name does "
            f"not hold for these files (see {DATA_README}), so held-out twins cannot be "
            "excluded: use val_fraction=0 or a static_root of the matching images"
        )


def attach_static(
    data: Any,
    desc: RecordedDataset,
    static_root: Path,
    train_source: Any,
    train_rows: np.ndarray,
    options: Any,
) -> None:
    """Load the static images, build the pool and its planes, and set them on ``data``
    (``options``: the ``RecordedOptions`` of the load)."""
    side = desc.static
    try:
        images = side.load(static_root, tuple(data.classes))
    except DatasetError as error:
        raise DatasetError(f"{error}{_folder_mismatch(static_root, data.classes)}") from None
    names = list(train_source.names)
    labels = np.asarray(train_source.labels)
    keep = set(int(i) for i in train_rows)
    event_names = [names[i] for i in sorted(keep)]
    held_out = [names[i] for i in range(len(names)) if i not in keep]
    held_out += list(data.test.events.names)
    rows = _twin_rows(desc, images, event_names, held_out)
    if side.event_key is not None:
        by_key = {side.event_key(names[i]): data.classes[labels[i]] for i in range(len(names))}
        _check_twin_classes(desc, images, rows, data.classes, by_key)
    seed = int(options.seed)
    pool = StaticPool(
        images.labels,
        match_classes(
            data.classes,
            images.classes,
            event_source=f"{desc.name} at {data.info.get('root', '?')}",
            static_source=getattr(images, "source", None) or str(static_root),
        ),
        candidates=rows,
        fraction=options.static_fraction,
        seed=seed + 3,
        class_names=data.classes,
    )
    height, width = data.frame_shape[-2:]
    spec = StaticInputSpec(
        size=(height, width),
        time_steps=data.frame_shape[0],
        channel=options.channel,
        order=side.order,
        polarities=data.frame_shape[1],
    )
    data.static_pool = pool
    data.static_spec = spec
    data.static_planes = _planes(desc, images, pool.indices, spec, options)
    data.info.update(
        static_root=str(static_root),
        static_images=len(pool),
        static_rule=(
            "twins of the training recordings only"
            if side.static_key is not None and side.twins_only
            else "all images except twins of held-out recordings"
            if side.static_key is not None
            else "all images (no file-level correspondence with the recordings)"
        ),
    )


def _folder_mismatch(static_root: Path, classes) -> str:
    """When ``static_root`` holds class folders (at least one named like an event class),
    the event classes it lacks and the folders no event class uses; else nothing."""
    if not static_root.is_dir():
        return ""
    folders = sorted(d.name for d in static_root.iterdir() if d.is_dir())
    if not set(folders) & set(classes):
        return ""
    lacking = [c for c in classes if c not in folders]
    extra = [f for f in folders if f not in set(classes)]
    if not lacking and not extra:
        return ""
    return (
        f"\nclass folders under {static_root}: {len(folders)}; event classes without a "
        f"folder there: {lacking[:10]}{' ...' if len(lacking) > 10 else ''}; folders that "
        f"are no event class: {extra[:10]}{' ...' if len(extra) > 10 else ''}"
    )


def planes_digest(*parts: Any) -> str:
    """16 hex digits over ``parts`` (strings / sequences of strings), for cache file names."""
    hasher = hashlib.sha256()
    for part in parts:
        text = "\n".join(part) if isinstance(part, list | tuple) else str(part)
        hasher.update(text.encode() + b"\0")
    return hasher.hexdigest()[:16]


def _planes(desc: RecordedDataset, images: Any, indices: np.ndarray, spec, options) -> np.ndarray:
    """Single-channel planes ``float32 [N, H, W]`` of ``images[indices]``, cached as ``.npy``
    in the cache folder (keyed by the image names, the spec and the preparation)."""
    side = desc.static
    path = None
    if options.cache:
        folder = options.cache_path
        key = planes_digest(
            images.source, [images.names[i] for i in indices], spec.fingerprint(), desc.name
        )
        path = (folder or default_cache_dir()) / "static" / f"{desc.name}-{key}.npy"
        if path.exists():
            planes = np.load(path)
            if planes.shape[0] == len(indices):
                return planes
    order = indices
    if options.progress and len(indices) > 500:
        from tqdm import tqdm

        order = tqdm(indices, desc=f"{desc.name} static images", unit="img")
    planes = np.zeros((len(indices), *spec.size), np.float32)
    for row, i in enumerate(order):
        image = images.image(int(i))
        if side.prepare is not None:
            image = side.prepare(image)
        planes[row] = spec.channel_of(image)
    if path is not None:
        save_array(path, planes)
    return planes
