"""The dataset registry: every paired dataset the trainer and the CLIs can ask for by name.

An entry is a builder ``build(**options) -> PairedData`` registered with
:func:`register_dataset`; its options (and their defaults) are the builder's keyword-only
parameters, so an unknown option fails before any data loads. A builder that also takes
``**more`` (the ``tonic`` entry: Tonic's constructor arguments) receives the other options
and checks them itself, also before any data loads. Callers only ever use
:func:`load_dataset`, :func:`dataset_names` and :func:`dataset_entry`; no dataset-specific
branches live anywhere else. A dataset object given to :func:`load_dataset` instead of a
name (a Tonic dataset) is the ``dataset`` option of :data:`OBJECT_ENTRY`.

The built-in entries live in the modules of :data:`BUILTIN`, imported on the first lookup:
the emulated entries (``digits``, ``mnist``, ``fashion-mnist``) and one module per recorded
dataset (``n-caltech101``, ``n-mnist``, ``cifar10-dvs``, ``dvs-gesture``, ``n-omniglot``,
``cep-dvs`` and ``folder``, your own recordings; layouts in ``data/README.md``) and
``tonic`` (any Tonic dataset, by class name from a local folder or as an object). Entries
import this module for the decorator; this module imports them only by name.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from snn_transfer.errors import ConfigError

#: modules that register the built-in entries, imported on the first lookup
BUILTIN = (
    "snn_transfer.events.emulated.entries",
    "snn_transfer.events.recorded.ncaltech101",
    "snn_transfer.events.recorded.nmnist",
    "snn_transfer.events.recorded.cifar10dvs",
    "snn_transfer.events.recorded.dvs_gesture",
    "snn_transfer.events.recorded.nomniglot",
    "snn_transfer.events.recorded.cepdvs",
    "snn_transfer.events.recorded.folder",
    "snn_transfer.events.recorded.tonic",
)
#: the entry that loads a dataset object passed to ``load_dataset`` in place of a name
OBJECT_ENTRY = "tonic"

STATIC_INPUTS = ("image", "emulated")
#: options every entry with static images takes, handled here rather than by each entry
STATIC_OPTIONS: dict[str, Any] = {"static_input": "image", "static_emulator": None}


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset: its builder and what ``snn-events datasets`` says about it.

    ``description`` is the value the entry was made from, for tools that work on its files
    (a recorded dataset's ``RecordedDataset``; None for generated datasets).
    """

    name: str
    summary: str
    layout: str
    has_static: bool
    build: Callable[..., Any]
    description: Any = None

    def options(self) -> dict[str, Any]:
        """The options ``load_dataset`` accepts for this entry, with their defaults."""
        params = inspect.signature(self.build).parameters
        own = {k: p.default for k, p in params.items() if p.kind is p.KEYWORD_ONLY}
        return {**own, **STATIC_OPTIONS} if self.has_static else own

    @property
    def open_options(self) -> bool:
        """Whether the builder takes further options (``**more``) and checks them itself."""
        params = inspect.signature(self.build).parameters.values()
        return any(p.kind is p.VAR_KEYWORD for p in params)


_REGISTRY: dict[str, DatasetEntry] = {}
_LOADED = False


def register_dataset(
    name: str, *, summary: str, layout: str, has_static: bool, description: Any = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register ``build(**options) -> PairedData`` under ``name``."""

    def decorate(build: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY:
            raise ValueError(f"dataset {name!r} registered twice")
        _REGISTRY[name] = DatasetEntry(name, summary, layout, has_static, build, description)
        return build

    return decorate


def _load_builtin_datasets() -> None:
    global _LOADED
    if not _LOADED:
        _LOADED = True
        for module in BUILTIN:
            importlib.import_module(module)


def dataset_names() -> list[str]:
    """Names accepted by :func:`load_dataset`, sorted."""
    _load_builtin_datasets()
    return sorted(_REGISTRY)


def dataset_entry(name: str) -> DatasetEntry:
    """The entry registered as ``name``; an unknown name is a ConfigError listing them all."""
    _load_builtin_datasets()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown dataset {name!r}; available: {', '.join(dataset_names())}"
        ) from None


def check_dataset_options(name: str, options: dict[str, Any]) -> DatasetEntry:
    """Refuse an unknown dataset or option before anything loads; returns the entry."""
    entry = dataset_entry(name)
    allowed = entry.options()
    unknown = sorted(set(options) - set(allowed))
    if unknown and not entry.open_options:
        raise ConfigError(
            f"dataset {name!r} has no option {', '.join(map(repr, unknown))}; "
            f"its options are: {', '.join(sorted(allowed))}"
        )
    return entry


def load_dataset(name: Any = "digits", /, **options: Any) -> Any:
    """Build the named dataset (a ``PairedData``). Options are checked against the entry's
    own list. ``name`` may also be a dataset object (a Tonic dataset, or any map-style
    dataset of ``(events, target)``): it is loaded by the ``tonic`` entry as its ``dataset``
    option (see ``recorded.tonic.from_tonic``).

    Entries with static images also take ``static_input``: ``image`` (the method: the image
    tiled over T) or ``emulated`` (the image through the saccade emulator, framed like the
    recordings; see ``PairedData.with_emulated_static``), with ``static_emulator`` a
    mapping of ``SaccadeParams`` fields for it.
    """
    from snn_transfer.events.saccades import saccade_params

    if not isinstance(name, str):
        if "dataset" in options:
            raise ConfigError("give the dataset object once: load_dataset(dataset, ...)")
        name, options = OBJECT_ENTRY, {"dataset": name, **options}
    entry = check_dataset_options(name, options)
    static_input = options.pop("static_input", "image")
    emulator = options.pop("static_emulator", None)
    if static_input not in STATIC_INPUTS:
        raise ConfigError(
            f"static_input = {static_input!r}; choose one of {', '.join(STATIC_INPUTS)}"
        )
    params = saccade_params(emulator, "static_emulator")
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
