"""A Tonic dataset, or any map-style dataset of ``(events, target)``, as a sorted sample list.

:class:`TonicSamples` has the interface of ``EventFiles`` (``labels``, ``names``,
``splits``, ``classes``, ``sensor_size``, ``root``, ``subset``, ``split``, ``digest``,
``path``, ``events``), so the one recorded loader frames it into the frame cache, splits it
and pairs it like our own listings. Samples are read through the dataset's own
``__getitem__`` (Tonic's readers, and its ``transform`` if it has one), from one dataset or
from two (a training and an official test split).

* **Order.** Samples are sorted by name, whatever order the dataset lists them in (Tonic
  lists N-Caltech101's files in file-system order). A sample's name is its file's path
  relative to the dataset's folder (Tonic's ``location_on_system``, else the files' common
  folder) when the dataset lists one file per sample (``data`` or ``samples``, as Tonic and
  torchvision do), compared with numbers by value. A dataset without such a list keeps
  its own index order (names ``000042``); ``order`` says which rule applied.
* **Labels.** ``targets`` when the dataset has them (with its ``target_transform``
  applied), else each sample is read once. Classes are ``classes`` (a list, or a dict
  name -> index as Tonic's CIFAR10DVS has), else the targets' names: string targets (Tonic's
  N-Caltech101) are class names, sorted.
* **Digest** (the cache key, with the framing): the dataset's class, its package's
  version, its settings (public attributes holding plain values, its transforms through
  ``describe_callable``), and per sample its name, split, and its file's size and
  modification time, so an edited file rebuilds the cache. A dataset without files has its
  samples' contents hashed instead (one extra read of every sample, only when caching).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from snn_transfer.errors import ConfigError, DatasetError
from snn_transfer.events.checks import check_picklable
from snn_transfer.events.framing.custom import describe_callable
from snn_transfer.events.splits import per_class_parts
from snn_transfer.events.static.images import natural_key

TRANSFORM_ATTRIBUTES = ("transform", "target_transform", "transforms")
#: attributes left out of a dataset's settings: where it lies, per-sample lists, and where
#: Tonic would download it from (none changes a sample)
_NOT_SETTINGS = {"location_on_system", "data", "targets", "samples", "url", "filename"}
_NOT_SETTINGS_SUFFIXES = ("_url", "md5", "_filename")


def sample_files(dataset: Any) -> list[str] | None:
    """The file of every sample, when the dataset lists one per sample: Tonic's ``data``
    (paths) or torchvision's ``samples`` (``(path, target)`` pairs); else None."""
    n = len(dataset)
    for attribute, pick in (("data", lambda v: v), ("samples", lambda v: v[0])):
        listed = getattr(dataset, attribute, None)
        if not isinstance(listed, list | tuple) or len(listed) != n or n == 0:
            continue
        try:
            files = [pick(v) for v in listed]
        except (TypeError, IndexError, KeyError):
            continue
        if all(isinstance(f, str | os.PathLike) for f in files):
            return [os.fspath(f) for f in files]
    return None


def _base_folder(dataset: Any, files: list[str]) -> str:
    location = getattr(dataset, "location_on_system", None)
    folders = [os.path.dirname(os.path.abspath(f)) for f in files]
    if isinstance(location, str):
        location = os.path.abspath(location)
        if all(f == location or f.startswith(location + os.sep) for f in folders):
            return location
    return os.path.commonpath(folders)


def dataset_settings(dataset: Any) -> dict[str, Any]:
    """What identifies how a dataset reads its samples (see the module docstring); refuses
    a transform that does not pickle."""
    cls = type(dataset)
    package = sys.modules.get(cls.__module__.split(".")[0])
    settings: dict[str, Any] = {}
    for key, value in sorted(getattr(dataset, "__dict__", {}).items()):
        if key.startswith("_") or key in _NOT_SETTINGS or key.endswith(_NOT_SETTINGS_SUFFIXES):
            continue
        if key in TRANSFORM_ATTRIBUTES:
            if value is not None:
                check_picklable(f"the dataset's {key}", value)
                settings[key] = describe_callable(value)
        elif _plain(value):
            settings[key] = value
    return {
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "version": str(getattr(package, "__version__", "unknown")),
        "settings": settings,
    }


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list | tuple) and len(value) <= 64:
        return all(v is None or isinstance(v, bool | int | float | str) for v in value)
    return False


def _targets(dataset: Any) -> list[Any]:
    """Every sample's target: ``targets`` (with ``target_transform``), else read."""
    targets = getattr(dataset, "targets", None)
    joint = getattr(dataset, "transforms", None)
    if (
        isinstance(targets, list | tuple | np.ndarray)
        and len(targets) == len(dataset)
        and not joint
    ):
        convert = getattr(dataset, "target_transform", None)
        return [convert(t) for t in targets] if convert is not None else list(targets)
    return [dataset[i][1] for i in range(len(dataset))]


def _plain_target(target: Any) -> Any:
    """A target as a Python int or str (numpy scalars, one-element tensors, bytes)."""
    if isinstance(target, bytes):
        return target.decode()
    if isinstance(target, np.generic) or (isinstance(target, np.ndarray) and target.ndim == 0):
        return target.item()
    if type(target).__module__.split(".")[0] == "torch" and target.numel() == 1:
        return target.item()
    return target


def _declared_classes(dataset: Any) -> tuple[str, ...] | None:
    classes = getattr(dataset, "classes", None)
    if isinstance(classes, dict):
        return tuple(str(k) for k, _ in sorted(classes.items(), key=lambda kv: kv[1]))
    if isinstance(classes, list | tuple) and all(isinstance(c, str) for c in classes):
        return tuple(classes)
    return None


def class_labels(
    targets: list[Any], declared: tuple[str, ...] | None, what: str
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels ``[N]`` int64 and class names from targets (ints or class names)."""
    values = [_plain_target(t) for t in targets]
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        labels = np.asarray(values, np.int64)
        if labels.size and labels.min() < 0:
            raise DatasetError(f"{what}: negative target {int(labels.min())}")
        top = int(labels.max()) + 1 if labels.size else 0
        if declared is not None and len(declared) >= top:
            return labels, declared
        return labels, tuple(str(k) for k in range(top))
    if all(isinstance(v, str) for v in values):
        present = set(values)
        if declared is not None and present <= set(declared):
            classes = declared
        else:
            classes = tuple(sorted(present, key=natural_key))
        position = {c: i for i, c in enumerate(classes)}
        return np.asarray([position[v] for v in values], np.int64), classes
    kinds = sorted({type(v).__name__ for v in values})
    raise DatasetError(
        f"{what}: targets must be class indices (int) or class names (str), got {kinds}; "
        "give the dataset a target_transform that returns one of them"
    )


class TonicSamples:
    """The sorted samples of one or two datasets of ``(events, target)``: see the module
    docstring. Build it with :func:`tonic_samples`."""

    def __init__(self, datasets, source, index, labels, names, splits, classes, **rest) -> None:
        self.datasets = tuple(datasets)
        self.source = np.asarray(source, np.int64)
        self.index = np.asarray(index, np.int64)
        self.labels = np.asarray(labels, np.int64)
        self.names = list(names)
        self.splits = list(splits)
        self.classes = tuple(classes)
        self.sensor_size = rest["sensor_size"]
        self.root = rest["root"]
        self.files: list[str | None] = list(rest["files"])
        self.settings: list[dict[str, Any]] = rest["settings"]
        self.order: str = rest["order"]

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, keep) -> TonicSamples:
        """The samples at ``keep`` (indices or a boolean mask), in that order."""
        idx = np.asarray(keep)
        idx = np.flatnonzero(idx) if idx.dtype == np.bool_ else idx.astype(np.int64)
        return TonicSamples(
            self.datasets,
            self.source[idx],
            self.index[idx],
            self.labels[idx],
            [self.names[i] for i in idx],
            [self.splits[i] for i in idx],
            self.classes,
            sensor_size=self.sensor_size,
            root=self.root,
            files=[self.files[i] for i in idx],
            settings=self.settings,
            order=self.order,
        )

    def split(self, name: str) -> TonicSamples:
        """The samples of official split ``name``."""
        return self.subset([i for i, s in enumerate(self.splits) if s == name])

    def digest(self) -> str:
        """16 hex digits over the datasets' settings and every sample (module docstring)."""
        hasher = hashlib.sha256(json.dumps(self.settings, sort_keys=True, default=str).encode())
        for i, (name, split, file) in enumerate(
            zip(self.names, self.splits, self.files, strict=True)
        ):
            if file is not None:
                stat = os.stat(file)
                content = f"{stat.st_size}\t{stat.st_mtime_ns}"
            else:
                item = np.ascontiguousarray(np.asarray(self.events(i)))
                content = (
                    f"{item.dtype.str}{item.shape}" + hashlib.sha256(item.tobytes()).hexdigest()
                )
            hasher.update(f"{name}\t{split}\t{content}\n".encode())
        return hasher.hexdigest()[:16]

    def path(self, index: int) -> str:
        """The sample's file, or ``Class[i]`` for a dataset without files (for messages)."""
        file = self.files[index]
        if file is not None:
            return file
        return f"{type(self.datasets[self.source[index]]).__name__}[{self.index[index]}]"

    def events(self, index: int) -> Any:
        """Sample ``index`` as the dataset gives it (events, or frames if it frames them)."""
        return self.datasets[self.source[index]][int(self.index[index])][0]

    def __getitem__(self, index: int) -> tuple[Any, int]:
        return self.events(index), int(self.labels[index])


def _sensor(dataset: Any, given: Any) -> tuple[int, int, int] | None:
    value = given if given is not None else getattr(dataset, "sensor_size", None)
    if value is None:
        return None
    try:
        size = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"sensor_size = {value!r} must be (W, H) or (W, H, P)") from None
    if len(size) == 2:
        size = (*size, 2)
    if len(size) != 3 or min(size) < 1:
        raise ConfigError(f"sensor_size = {value!r} must be (W, H) or (W, H, P)")
    return size


def tonic_samples(
    train: Any, test: Any = None, *, test_fraction: float = 0.1, sensor_size: Any = None
) -> TonicSamples:
    """The sorted samples of ``train`` and ``test`` (its official test split; None: per class
    the last ``max(1, round(test_fraction n))`` samples in sorted order are test, the rest
    train, as the ``folder`` entry does). ``sensor_size`` (W, H[, P]) overrides the
    dataset's own ``sensor_size``."""
    datasets = [train] if test is None else [train, test]
    what = type(train).__name__
    settings = [dataset_settings(d) for d in datasets]  # refuses unpicklable transforms first
    parts, targets, rule = [], [], "sorted by file path"
    for k, dataset in enumerate(datasets):
        if len(dataset) == 0:
            raise DatasetError(f"{type(dataset).__name__}: the dataset has no samples")
        files = sample_files(dataset)
        if files is None:
            rule = "by index (the dataset lists no file per sample)"
            width = len(str(len(dataset) - 1))
            names = [f"{i:0{width}d}" for i in range(len(dataset))]
            order = list(range(len(dataset)))
        else:
            base = _base_folder(dataset, files)
            names = [Path(os.path.relpath(os.path.abspath(f), base)).as_posix() for f in files]
            order = sorted(range(len(names)), key=lambda i: natural_key(names[i]))
        raw = _targets(dataset)
        parts.append((k, order, [names[i] for i in order], files, base if files else None))
        targets += [raw[i] for i in order]
    labels, classes = class_labels(targets, _declared_classes(train), what)
    names = [n for _, _, part_names, _, _ in parts for n in part_names]
    if len(parts) == 2:
        splits = ["train"] * len(parts[0][1]) + ["test"] * len(parts[1][1])
        if len(set(names)) != len(names):
            names = [f"{s}/{n}" for s, n in zip(splits, names, strict=True)]
    else:
        share = float(test_fraction)

        def train_size(n: int) -> list[int]:
            return [n - (0 if n < 2 else max(1, round(share * n)))]

        splits = per_class_parts(labels, train_size, ("train", "test"))
    source = [k for k, order, *_ in parts for _ in order]
    index = [i for _, order, *_ in parts for i in order]
    files = [None if f is None else f[i] for _, order, _, f, _ in parts for i in order]
    root = parts[0][4] or getattr(train, "location_on_system", None)
    return TonicSamples(
        datasets,
        source,
        index,
        labels,
        names,
        splits,
        classes,
        sensor_size=_sensor(train, sensor_size),
        root=None if root is None else Path(root),
        files=files,
        settings=settings,
        order=rule,
    )
