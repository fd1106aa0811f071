"""The options of a recorded dataset, as one frozen value checked once when it is built.

Users pass them by keyword, ``load_dataset("n-caltech101", root=..., time_steps=10,
event_fraction=0.1)``, or in a recipe under ``data.options``; :func:`option_defaults` lists
them with a dataset's defaults (the registry entry's signature), :func:`recorded_options`
builds the :class:`RecordedOptions` the loader reads. The dataset's own listing options
(``sensor_size``, ``format``, ``test_fraction``) ride along in ``listing`` and are checked
by its lister.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from snn_transfer.errors import ConfigError
from snn_transfer.events.cache import check_compression, check_dtype
from snn_transfer.events.cache_build import ON_ERROR
from snn_transfer.events.checks import check_picklable, fraction, positive_option, size_pair
from snn_transfer.events.core import SensorSize
from snn_transfer.events.framing.augment import check_augment
from snn_transfer.events.framing.pipeline import FRAMINGS
from snn_transfer.events.recorded.description import RecordedDataset


def frame_size(size: Any, sensor: SensorSize | None) -> tuple[int, int] | None:
    """``size`` option -> (H, W): an int, a pair, or None (the sensor's own size)."""
    if size is None:
        return None if sensor is None else (int(sensor[1]), int(sensor[0]))
    return size_pair("size", size)


@dataclass(frozen=True)
class RecordedOptions:
    """What the loader of a recorded dataset is asked for (see ``data/README.md``).

    Data: ``root`` (the dataset folder), ``time_steps`` (T), ``size`` (frame size: an int,
    (H, W), or None for the sensor's own), ``seed``, ``event_fraction`` (of the training
    recordings per class), ``val_fraction`` (of the official training split per class, 0:
    no validation split), ``framing`` (``default``, ``paper``, or a callable ``events ->
    frames``: ``framing.custom``), ``augment`` (names and callables, see
    ``framing.augment``). Static side: ``static_root``, ``static_fraction``, ``channel``.
    Cache: ``cache`` (False: frame on the fly), ``cache_dir``, ``dtype``, ``compression``,
    ``workers``, ``progress``, ``on_error`` (``fail`` or ``skip`` a bad recording).
    ``listing``: the dataset's own options for its lister.
    """

    root: Any = None
    time_steps: int = 10
    size: Any = 48
    seed: int = 0
    event_fraction: float = 1.0
    val_fraction: float = 0.1
    framing: Any = "default"
    augment: Any = ()
    static_root: Any = None
    static_fraction: float = 1.0
    channel: str = "v"
    cache: bool = True
    cache_dir: Any = None
    dtype: str = "float32"
    compression: str = "none"
    workers: int = 1
    progress: bool = True
    on_error: str = "fail"
    listing: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "time_steps", positive_option("time_steps", self.time_steps))
        if callable(self.framing):
            check_picklable("framing", self.framing)
        elif self.framing not in FRAMINGS:
            raise ConfigError(
                f"framing = {self.framing!r}; choose 'default' or 'paper', or give a callable "
                "events -> frames (ToFrame(...), Tonic's ToFrame, a top-level function)"
            )
        check_augment(self.augment)
        for key in ("event_fraction", "val_fraction", "static_fraction"):
            object.__setattr__(self, key, fraction(key, getattr(self, key)))
        if self.size is not None:
            frame_size(self.size, None)
        check_dtype(self.dtype)
        check_compression(self.compression)
        if self.on_error not in ON_ERROR:
            raise ConfigError(f"on_error = {self.on_error!r}; choose one of {', '.join(ON_ERROR)}")

    @property
    def root_path(self) -> Path | None:
        return None if self.root is None else Path(self.root).expanduser()

    @property
    def cache_path(self) -> Path | None:
        """``cache_dir`` as a path, None for the default cache folder."""
        return Path(self.cache_dir).expanduser() if self.cache_dir else None

    def frame_size(self, sensor: SensorSize | None) -> tuple[int, int] | None:
        """The frame size (H, W) on a sensor of ``sensor`` (W, H, P) size (None: unknown)."""
        return frame_size(self.size, sensor)


_STATIC_KEYS = ("static_root", "static_fraction", "channel")
_CACHE_KEYS = ("cache", "cache_dir", "dtype", "compression", "workers", "progress", "on_error")


def option_defaults(desc: RecordedDataset) -> dict[str, Any]:
    """The options ``desc`` takes, in the order ``snn-events datasets`` lists them, with its
    defaults: the data options, the static ones (datasets with images), the dataset's own
    listing options, then the cache options."""
    base = {f.name: f.default for f in fields(RecordedOptions) if f.name != "listing"}
    base.update(time_steps=desc.time_steps, size=desc.size, augment=desc.augment)
    data = {k: v for k, v in base.items() if k not in (*_STATIC_KEYS, *_CACHE_KEYS)}
    static = {k: base[k] for k in _STATIC_KEYS} if desc.has_static else {}
    cache = {k: base[k] for k in _CACHE_KEYS}
    return {**data, **static, **dict(desc.extra), **cache}


def recorded_options(desc: RecordedDataset, given: Mapping[str, Any]) -> RecordedOptions:
    """The :class:`RecordedOptions` of ``desc`` with the ``given`` ones (names checked by the
    registry) over its defaults."""
    values = {**option_defaults(desc), **given}
    listing = {key: values.pop(key) for key in desc.extra}
    return RecordedOptions(**values, listing=listing)
