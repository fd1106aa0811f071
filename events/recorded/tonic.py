"""``tonic``: any Tonic dataset, or any map-style dataset of ``(events, target)``, as an
event source for training.

* **By name** (a recipe: ``data.dataset: tonic``, ``data.options: {name: NMNIST, save_to:
  data}``): ``load_dataset("tonic", name="NMNIST", save_to="data", ...)`` opens
  ``tonic.datasets.NMNIST`` from ``data/NMNIST`` with downloads off
  (``recorded.tonic_open``); options this entry does not know are Tonic's constructor
  arguments (``first_saccade_only``, ``train``, ...), checked against the class. A class
  whose constructor takes ``train`` gives both official splits (``train=True`` for
  training and validation, ``train=False`` for test) unless ``train`` is given.
* **As an object**: ``load_dataset(tonic_dataset, ...)`` or :func:`from_tonic` (``test=``
  a second dataset as the official test split). Any object with ``__len__`` and
  ``__getitem__ -> (events, target)`` works; ``sensor_size`` and ``classes`` are read when
  it has them (``sensor_size=`` supplies one). ``Trainer(config, data=dataset)`` comes here.

Either way the samples are listed in a sorted, deterministic order
(``recorded.tonic_samples``) and go through the one recorded loader
(``recorded.loader.assemble_recorded``): framed by our framing (``framing``: ``default``
= ``ToFrame(n_time_bins=T)`` on the sensor then a resize to ``size``, ``paper``, or any
picklable callable such as Tonic's ``ToFrame``; frames of any dtype become float32) into
the fingerprinted frame cache (key: the dataset's class, its package's version, its
settings and transforms, its sorted sample list with file sizes and times, and the
framing), a per-class validation split, ``event_fraction``, augmentation (names and
callables), and the static side. A dataset whose own ``transform`` frames its samples is
cached as it frames them (``framing`` must stay ``default``).

Without a test dataset the test split is carved per class: the last
``max(1, round(test_fraction n))`` samples in sorted order (the ``folder`` entry's rule).

Static partners: ``static_root`` with ``static_source``, the name of a registered dataset
whose static side to use (its image loader; ``folder`` for class folders of your images).
Tonic's NMNIST and NCALTECH101 default to ``n-mnist`` (MNIST IDX files) and
``n-caltech101`` (Caltech101 images) with their twin rules (a held-out recording's image
never partners); other sources pair by class only. Without ``static_root`` the dataset is
event-only: the baseline mode trains on it, the transfer mode says it has no static images.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

from snn_transfer.errors import ConfigError
from snn_transfer.events.checks import fraction
from snn_transfer.events.containers import PairedData
from snn_transfer.events.framing.augment import augmentations
from snn_transfer.events.framing.custom import GivenFrames
from snn_transfer.events.framing.pipeline import FramePipeline, standard_pipeline
from snn_transfer.events.recorded.description import RecordedDataset, StaticSide
from snn_transfer.events.recorded.loader import assemble_recorded, recorded_dataset
from snn_transfer.events.recorded.options import RecordedOptions, option_defaults
from snn_transfer.events.recorded.tonic_open import open_tonic_splits, tonic_layout
from snn_transfer.events.recorded.tonic_samples import TonicSamples, tonic_samples
from snn_transfer.events.registry import load_dataset, register_dataset
from snn_transfer.events.transforms import Resize

TONIC_LAYOUT = """\
  name=<a class of tonic.datasets> save_to=<folder>: the files as Tonic extracts them under
  <save_to>/<Class>/ (e.g. <save_to>/NMNIST/Train/<digit>/<n>.bin); nothing is downloaded
  other options: the Tonic class's own (train, first_saccade_only, ...)
  or: a dataset object, load_dataset(dataset, ...) / from_tonic(dataset, test=...)
  static_root (optional) with static_source=<a registered dataset with static images>;
  NMNIST and NCALTECH101 default to n-mnist (MNIST IDX files) and n-caltech101"""

#: Tonic class -> (registered dataset whose static side it uses, prefix of its sample names
#: to drop so that the twin keys of that dataset apply)
DEFAULT_STATIC = {"NMNIST": ("n-mnist", ""), "NCALTECH101": ("n-caltech101", "Caltech101/")}

#: this entry's own options (besides the recorded datasets' ones, without ``root``)
OWN_OPTIONS: dict[str, Any] = {
    "name": None,
    "save_to": None,
    "dataset": None,
    "test_dataset": None,
    "test_fraction": 0.1,
    "sensor_size": None,
    "static_source": None,
}


def _unlisted(root: Any, **options: Any) -> Any:
    raise ConfigError("the tonic entry lists its samples from a dataset object, not a root")


_TEMPLATE = RecordedDataset(
    name="tonic",
    summary="any Tonic dataset (by class name from a local folder, or as an object)",
    layout=TONIC_LAYOUT,
    list_samples=_unlisted,
    pipeline=standard_pipeline(),
    split_rule="",
    time_steps=10,
    size=None,
    static=StaticSide(what="static images", load=_unlisted),
    extra=OWN_OPTIONS,
)
DEFAULTS = {k: v for k, v in option_defaults(_TEMPLATE).items() if k != "root"}


def _static_side(train: Any, source: str | None, static_root: Any) -> StaticSide | None:
    """The static side of the load (see the module docstring)."""
    cls = type(train)
    default = DEFAULT_STATIC.get(cls.__name__) if cls.__module__.startswith("tonic.") else None
    source = source or (default[0] if default else None)
    if source is None:
        if static_root is not None:
            raise ConfigError(
                f"static_root is given but {cls.__name__} has no default static source; pass "
                "static_source=<a registered dataset with static images: n-mnist, "
                "n-caltech101, folder (class folders of images), ...>"
            )
        return None
    side = recorded_dataset(source).static
    if side is None:
        raise ConfigError(f"static_source = {source!r} has no static images")
    if default is None or source != default[0]:
        return dataclasses.replace(side, event_key=None, static_key=None)  # class pairing only
    prefix, key = default[1], side.event_key
    return dataclasses.replace(side, event_key=lambda name: key(name.removeprefix(prefix)))


def _description(
    train: Any, files: TonicSamples, options: RecordedOptions, static: StaticSide | None
) -> RecordedDataset:
    item = files.events(0)
    gives_frames = not getattr(getattr(item, "dtype", None), "names", None)
    name = type(train).__name__
    pipeline = standard_pipeline()
    if gives_frames:
        if options.framing != "default":
            raise ConfigError(
                f"{name}'s own transform frames its samples already, so framing = "
                f"{options.framing!r} has nothing to frame; drop framing= or the dataset's "
                "transform"
            )
        if augmentations(options.augment, (1, 1), files.sensor_size)[0] is not None:
            raise ConfigError(
                f"augment has augmentations of events, but {name}'s own transform frames its "
                "samples before they could run; augment frames instead, or drop the transform"
            )
        resize = () if options.size is None else (Resize(options.size, antialias=True),)

        def pipeline(mode: str, steps: int, size: Any, sensor: Any) -> FramePipeline:
            return FramePipeline(GivenFrames(), resize)

    two = "test" in files.splits and len(files.datasets) == 2
    rule = (
        "official: the second dataset (train=False) is the test split"
        if two
        else "per class the last max(1, round(test_fraction n)) samples by sorted name test, "
        "the rest train"
    )
    return dataclasses.replace(
        _TEMPLATE,
        name=f"tonic-{name}",
        summary=f"{name} through the tonic entry",
        layout=tonic_layout(name) if type(train).__module__.startswith("tonic.") else TONIC_LAYOUT,
        pipeline=pipeline,
        split_rule=rule,
        static=static,
        extra={},
    )


def load_tonic(**given: Any) -> PairedData:
    """Build the ``tonic`` entry (see the module docstring); options not in
    :data:`DEFAULTS` are the Tonic class's constructor arguments."""
    tonic_options = {k: given.pop(k) for k in list(given) if k not in DEFAULTS}
    values = {**DEFAULTS, **given}
    own = {k: values.pop(k) for k in OWN_OPTIONS}
    options = RecordedOptions(**values)  # checked before anything is read
    test_fraction = fraction("test_fraction", own["test_fraction"])
    if own["dataset"] is not None:
        if own["name"] is not None or own["save_to"] is not None or tonic_options:
            extra = ", ".join(sorted(tonic_options))
            raise ConfigError(
                "give a dataset object or name=/save_to= (with Tonic's options"
                + (f", here {extra}" if extra else "")
                + "), not both"
            )
        train, test = own["dataset"], own["test_dataset"]
    else:
        if own["test_dataset"] is not None:
            raise ConfigError("test_dataset goes with a dataset object (dataset=...)")
        if own["name"] is None:
            raise ConfigError(
                "the tonic entry needs name=<a class of tonic.datasets> and save_to=<folder> "
                "(data.options: {name: NMNIST, save_to: data}), or a dataset object"
            )
        train, test = open_tonic_splits(own["name"], own["save_to"], **tonic_options)
    static = _static_side(train, own["static_source"], options.static_root)
    files = tonic_samples(train, test, test_fraction=test_fraction, sensor_size=own["sensor_size"])
    options = dataclasses.replace(options, root=files.root)
    desc = _description(train, files, options, static)
    data = assemble_recorded(desc, files, options)
    data.info["tonic"] = {"datasets": files.settings, "order": files.order}
    if static is None:
        data.info["static"] = (
            "event-only: pass static_root=<folder of images> with static_source=<a registered "
            "dataset with static images, e.g. n-mnist or folder> for the transfer mode"
        )
    return data


def _register() -> None:
    params = [
        inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v) for k, v in DEFAULTS.items()
    ]
    params.append(inspect.Parameter("tonic_options", inspect.Parameter.VAR_KEYWORD))

    def build(**options: Any) -> PairedData:
        return load_tonic(**options)

    build.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    build.__name__ = "load_tonic"
    build.__doc__ = _TEMPLATE.summary
    register_dataset("tonic", summary=_TEMPLATE.summary, layout=TONIC_LAYOUT, has_static=True)(
        build
    )


_register()


def from_tonic(dataset: Any, test: Any = None, **options: Any) -> PairedData:
    """A Tonic dataset (or any map-style dataset of ``(events, target)``) as ``PairedData``:
    ``load_dataset(dataset, test_dataset=test, **options)``. ``test``: its official test
    split (Tonic's ``train=False``); without it one is carved per class
    (``test_fraction``). Options are those of the ``tonic`` entry (``time_steps``, ``size``,
    ``framing``, ``augment``, ``val_fraction``, ``static_root``, ``cache_dir``, ...)."""
    return load_dataset(dataset, test_dataset=test, **options)
