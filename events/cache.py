"""The HDF5 frame cache: one ``frames`` file per (dataset, split, framing spec, dtype).

File layout (root attribute ``kind = "frames"``):

* ``frames [N, T, P, H, W]``: one sample per chunk; float32, float16, or uint16 (raw
  integer counts only); compression none, lzf or gzip;
* ``labels [N]`` int64, ``names [N]`` (the source recordings), ``classes``;
* ``event_counts [N]`` and ``durations_us [N]`` int64 (-1 where unknown);
* attributes ``fingerprint`` (of the :class:`CacheSpec`), ``spec`` (its fields as JSON),
  ``version`` (of the package), ``created`` (UTC, ISO 8601), ``dataset``, ``split``,
  ``dtype``, ``compression``, ``sensor_size``, ``skipped`` (JSON list of the recordings left
  out with ``on_error="skip"``, each with its error) and ``complete``.

:class:`FrameCache` reads it lazily: the file is opened on first access in each process, so
the object pickles into DataLoader workers. Opening it with an expected spec whose
fingerprint differs is refused with the differing fields named (a stale cache is never
served). ``cache_build.build_cache`` writes it, kill-safe and resumable.

:func:`default_cache_dir` is the folder every cache of the package lives under: frame caches
(``frames/``), emulated recordings (``emulated/``, ``emulated-static/``) and static planes
(``static/``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from snn_transfer.errors import ConfigError, EventFormatError
from snn_transfer.events.io.hdf5 import (
    KIND_FRAMES,
    file_kind,
    hdf5_errors,
    open_hdf5,
    text_attr,
)
from snn_transfer.events.spec import Spec

CACHE_ENV = "SNN_TRANSFER_CACHE"
DTYPES = ("float32", "float16", "uint16")
COMPRESSIONS = ("none", "lzf", "gzip")


def default_cache_dir() -> Path:
    """``$SNN_TRANSFER_CACHE``, else ``$XDG_CACHE_HOME/snn-transfer``, else
    ``~/.cache/snn-transfer``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "snn-transfer"


class CacheMismatchError(ConfigError):
    """An existing cache was built for another spec than the one requested."""


@dataclass(frozen=True)
class CacheSpec(Spec):
    """Everything that decides a cache's content; its fingerprint is the cache key.

    Attributes:
        dataset: registry name.
        split: official split ("train", "test", ...).
        files: digest of the split's sorted sample list (names, file sizes, windows).
        samples: number of samples in the list.
        pipeline: the ``FramePipeline`` (framing + deterministic transforms).
        dtype: stored frame dtype, one of :data:`DTYPES`.
    """

    dataset: str
    split: str
    files: str
    samples: int
    pipeline: Any
    dtype: str = "float32"

    def __post_init__(self) -> None:
        check_dtype(self.dtype)


def check_dtype(dtype: str) -> str:
    if dtype not in DTYPES:
        raise ConfigError(f"cache dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    return dtype


def check_compression(compression: str) -> str:
    if compression not in COMPRESSIONS:
        raise ConfigError(
            f"cache compression must be one of {', '.join(COMPRESSIONS)}, not {compression!r}"
        )
    return compression


def cache_path(cache_dir: str | Path, spec: CacheSpec) -> Path:
    """Where training looks for the cache of ``spec``:
    ``<cache_dir>/frames/<dataset>-<split>-<fingerprint>.h5``."""
    return Path(cache_dir) / "frames" / f"{spec.dataset}-{spec.split}-{spec.fingerprint()}.h5"


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and set(value) == {"class", "fields"}:
        out[f"{prefix}.class" if prefix else "class"] = value["class"]
        _flatten(value["fields"], prefix, out)
    elif isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else key, out)
    elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
        for i, item in enumerate(value):
            _flatten(item, f"{prefix}[{i}]", out)
        out[f"{prefix}.length"] = len(value)
    else:
        out[prefix] = value


def spec_differences(cached: dict[str, Any], requested: dict[str, Any]) -> list[str]:
    """``"field: cached A, requested B"`` for every differing (dotted) field."""
    left: dict[str, Any] = {}
    right: dict[str, Any] = {}
    _flatten(json.loads(json.dumps(cached)), "", left)
    _flatten(json.loads(json.dumps(requested)), "", right)
    keys = sorted(set(left) | set(right))
    missing = "(absent)"
    return [
        f"{k}: cached {left.get(k, missing)!r}, requested {right.get(k, missing)!r}"
        for k in keys
        if left.get(k, missing) != right.get(k, missing)
    ]


def mismatch_error(path: Path, cached: dict[str, Any], spec: CacheSpec) -> CacheMismatchError:
    differences = spec_differences(cached, spec.fields()) or ["(fields equal, fingerprint not)"]
    return CacheMismatchError(
        f"{path}: this frame cache was built for a different spec, refusing to serve stale "
        f"frames; differing fields: {'; '.join(differences)}. Delete the file (and any "
        f"{path.name}.shards folder), or write the new cache to another path"
    )


class FrameCache:
    """Read a ``frames`` cache: ``len``, ``cache[i] -> (float32 [T, P, H, W], label)``.

    Metadata is read once; frames are read through a handle opened lazily per process.
    ``expect``: a :class:`CacheSpec` the file must have been built for, else
    :class:`CacheMismatchError` naming the differing fields.

    Attributes:
        path, labels ``[N]`` int64, names (tuple), classes (tuple), frame_shape
        ``(T, P, H, W)``, dtype, compression, fingerprint, spec (fields dict), attrs (all
        root attributes as Python values), skipped (list of ``{"name", "error"}``).
    """

    def __init__(self, path: str | Path, expect: CacheSpec | None = None) -> None:
        self.path = Path(path)
        with open_hdf5(self.path) as file, hdf5_errors(self.path):
            kind = file_kind(file, self.path)
            if kind != KIND_FRAMES:
                raise EventFormatError(f"HDF5 file of kind {kind!r}, not a frame cache", path=path)
            if not bool(file.attrs.get("complete", False)):
                raise EventFormatError(
                    "frame cache is incomplete (its build was interrupted); build it again",
                    path=path,
                )
            self.attrs = {k: _attr(v) for k, v in file.attrs.items()}
            frames = file["frames"]
            self.frame_shape = tuple(int(s) for s in frames.shape[1:])
            self.dtype = str(frames.dtype)
            self.labels = np.asarray(file["labels"][:], np.int64)
            self.names = tuple(text_attr(n) for n in file["names"][:])
            self.classes = tuple(text_attr(c) for c in file["classes"][:])
            self.event_counts = np.asarray(file["event_counts"][:], np.int64)
            self.durations_us = np.asarray(file["durations_us"][:], np.int64)
            self._direct = frames.compression is None and frames.chunks is not None
        self.fingerprint = str(self.attrs.get("fingerprint", ""))
        self.spec = json.loads(self.attrs.get("spec", "{}"))
        self.compression = str(self.attrs.get("compression", "none"))
        self.skipped = json.loads(self.attrs.get("skipped", "[]"))
        if expect is not None and self.fingerprint != expect.fingerprint():
            raise mismatch_error(self.path, self.spec, expect)
        self._file = None
        self._frames = None
        self._pid: int | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def _dataset(self):
        if self._frames is None or self._pid != os.getpid():
            import h5py

            self._file = h5py.File(self.path, "r")
            self._frames = self._file["frames"]
            self._pid = os.getpid()
        return self._frames

    def frames(self, index: int) -> np.ndarray:
        """Sample ``index`` as float32 ``[T, P, H, W]``."""
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} cached samples")
        index %= n
        dataset = self._dataset()
        with hdf5_errors(self.path):
            if self._direct:  # one uncompressed chunk per sample: its bytes, no filters
                array = np.empty(self.frame_shape, dataset.dtype)
                dataset.id.read_direct_chunk(
                    (index, 0, 0, 0, 0), out=array.reshape(-1).view(np.uint8)
                )
            else:
                array = dataset[index]
        return array.astype(np.float32, copy=False)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return self.frames(index), int(self.labels[index])

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = self._frames = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_file=None, _frames=None, _pid=None)
        return state

    def __repr__(self) -> str:
        return (
            f"FrameCache({str(self.path)!r}, {len(self)} samples, frames {self.frame_shape} "
            f"{self.dtype}, fingerprint {self.fingerprint})"
        )


def _attr(value: Any) -> Any:
    if isinstance(value, bytes | np.bytes_):
        return text_attr(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def open_cache(path: str | Path, spec: CacheSpec | None = None) -> FrameCache:
    """Open the cache at ``path``, refusing it if it was built for another spec."""
    return FrameCache(path, expect=spec)


def summarize_cache(path: str | Path) -> dict[str, Any]:
    """What ``snn-events info`` prints for a cache: sensor size, counts, durations, class
    histogram, fingerprint, spec, dtype, compression, skipped recordings."""
    cache = FrameCache(path)
    counts = np.bincount(cache.labels, minlength=len(cache.classes))
    histogram = {c: int(n) for c, n in zip(cache.classes, counts, strict=True)}
    known = cache.durations_us[cache.durations_us >= 0]
    events = cache.event_counts[cache.event_counts >= 0]
    return {
        "format": "hdf5 (frames cache)",
        "dataset": cache.attrs.get("dataset"),
        "split": cache.attrs.get("split"),
        "sensor_size": cache.attrs.get("sensor_size"),
        "samples": len(cache),
        "frame_shape": cache.frame_shape,
        "dtype": cache.dtype,
        "compression": cache.compression,
        "events": int(events.sum()) if events.size else None,
        "duration_s": None if not known.size else round(float(known.mean()) / 1e6, 6),
        "classes": len(cache.classes),
        "histogram": histogram,
        "fingerprint": cache.fingerprint,
        "spec": cache.spec,
        "version": cache.attrs.get("version"),
        "created": cache.attrs.get("created"),
        "skipped": cache.skipped,
        "bytes": os.path.getsize(cache.path),
    }
