"""Random training augmentation by recipe name or as callables -> (on events, on frames).

Frame augmentations (``transforms``) run per sample after framing and after the frame
cache; event augmentations (``event_augment``, Tonic's) run per sample before framing.
Neither is part of a :class:`~snn_transfer.events.framing.pipeline.FramePipeline`: the
cache holds deterministic frames only.

An ``augment`` entry is a name (``"crop(4)"``, ``"drop(0.1)"``: see :func:`augmentations`)
or a callable, placed by what it works on:

* ours: the frame transforms of ``events.transforms`` on frames, the transforms of
  ``events.event_augment`` (and ``Denoise``) on events;
* Tonic's (any transform or function of the ``tonic`` package: ``DropEvent``,
  ``SpatialJitter``, a ``tonic.transforms.Compose``) on events; its representations
  (``ToFrame``, ``ToImage``, ...: names starting with ``To``) turn events into something
  else and are refused here (give ``ToFrame`` as the dataset's ``framing``);
* anything else says where it goes: ``OnEvents(fn)`` or ``OnFrames(fn)``.

How a callable is called: one whose second parameter is named ``rng`` gets ``(x, rng)``
with the sample's generator (the datasets seed it with ``(seed, epoch, index)``). Any
other gets ``(x)`` alone and runs inside :class:`SeededCall`: NumPy's global generator
(what Tonic's transforms draw from), Python's ``random`` and, when torch is loaded, torch's
CPU generator are seeded from the sample's generator for the duration of the call and
restored afterwards. So a Tonic transform is reproducible per ``(seed, epoch, index)`` and
leaves the caller's global random state as it found it. That state is per process: two
threads augmenting at once would interleave their draws (DataLoader workers are processes,
so they do not). Every callable must pickle (worker processes receive it), which is
checked here.
"""

from __future__ import annotations

import inspect
import random
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from snn_transfer.errors import ConfigError
from snn_transfer.events import event_augment as ea
from snn_transfer.events.checks import check_picklable, describe_object
from snn_transfer.events.transforms import (
    Compose,
    Denoise,
    RandomCrop,
    RandomFlip,
    RandomRotation,
)

FRAME_AUGMENTATIONS = ("crop", "flip", "rotate")
EVENT_AUGMENTATIONS = ("drop", "drop_time", "drop_area", "jitter")
AUGMENTATIONS = FRAME_AUGMENTATIONS + EVENT_AUGMENTATIONS
_AUGMENT = re.compile(r"^\s*(\w+)\s*(?:\(\s*([0-9.]+)\s*\))?\s*$")
_AUGMENT_HELP = (
    "use any of crop, crop(4), flip, flip(0.5), rotate, rotate(15) (on frames) or drop(0.1), "
    "drop_time(0.1), drop_area(0.1), jitter(1) (on events, before framing), or a callable"
)
_EVENT_CLASSES = (ea.DropEvent, ea.DropByTime, ea.DropByArea, ea.SpatialJitter, Denoise)


@dataclass(frozen=True)
class OnEvents:
    """An augmentation of events (before framing): ``function(events[, rng])``."""

    function: Callable[..., Any]


@dataclass(frozen=True)
class OnFrames:
    """An augmentation of frames (after framing and the cache): ``function(frames[, rng])``
    on float32 numpy ``[T, P, H, W]``."""

    function: Callable[..., Any]


def _takes_rng(function: Callable[..., Any]) -> bool:
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):  # some builtins have no signature
        return False
    return len(parameters) >= 2 and parameters[1].name == "rng"


@dataclass(frozen=True)
class SeededCall:
    """``function(x, rng)`` when it takes an ``rng``; else ``function(x)`` with the global
    generators seeded from ``rng`` and restored after the call (see the module docstring).
    Without an ``rng`` the function is called as it is."""

    function: Callable[..., Any]
    takes_rng: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "takes_rng", _takes_rng(self.function))

    def __call__(self, x: Any, rng: np.random.Generator | None = None) -> Any:
        if self.takes_rng:
            return self.function(x, rng)
        if rng is None:
            return self.function(x)
        seed = int(rng.integers(0, 2**32))
        numpy_state, python_state = np.random.get_state(), random.getstate()
        torch = sys.modules.get("torch")  # seeded only when loaded; never imported here
        torch_state = torch.random.get_rng_state() if torch is not None else None
        np.random.seed(seed)
        random.seed(seed)
        if torch is not None:
            torch.manual_seed(seed)
        try:
            return self.function(x)
        finally:
            np.random.set_state(numpy_state)
            random.setstate(python_state)
            if torch is not None:
                torch.random.set_rng_state(torch_state)


def augment_items(value: Any) -> list[Any]:
    """An ``augment`` option as a list of names and callables: ``"crop, flip"``,
    ``["crop", DropEvent(0.1)]``, a single callable, or None."""
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    elif callable(value) or isinstance(value, OnEvents | OnFrames):
        value = [value]
    items = []
    for item in value:
        if isinstance(item, str):
            if item.strip():
                items.append(item.strip())
        else:
            items.append(item)
    return items


def augment_names(value: Any) -> list[str]:
    """The ``augment`` option described: names as they are, callables by name (for
    ``info`` and run metadata)."""
    return [
        item
        if isinstance(item, str)
        else describe_object(item.function if isinstance(item, OnEvents | OnFrames) else item)
        for item in augment_items(value)
    ]


def _named(name: str, size: tuple[int, int], sensor: tuple[int, ...] | None):
    match = _AUGMENT.match(name)
    kind = match.group(1) if match else None
    if kind not in AUGMENTATIONS:
        raise ConfigError(f"augment: unknown augmentation {name!r}; {_AUGMENT_HELP}")
    if kind in ("drop_area", "jitter") and sensor is None:
        raise ConfigError(
            f"augment: {name!r} needs the sensor size, and this dataset's recordings have none "
            "(it varies per recording); use drop, drop_time or the frame augmentations"
        )
    value = match.group(2)

    def number(default: float) -> float:
        return default if value is None else float(value)

    side = "events" if kind in EVENT_AUGMENTATIONS else "frames"
    try:
        if kind == "crop":
            return side, RandomCrop(size, padding=4 if value is None else int(value))
        if kind == "flip":
            return side, RandomFlip(number(0.5))
        if kind == "rotate":
            return side, RandomRotation(number(15))
        if kind == "drop":
            return side, ea.DropEvent(number(0.1))
        if kind == "drop_time":
            return side, ea.DropByTime(number(0.1))
        if kind == "drop_area":
            return side, ea.DropByArea(sensor, number(0.1))
        return side, ea.SpatialJitter(sensor, number(1.0))
    except ValueError:
        raise ConfigError(f"augment: bad parameter in {name!r}") from None


def _side(item: Any) -> str:
    """Where a callable works: "events" or "frames" (see the module docstring)."""
    if isinstance(item, OnEvents):
        return "events"
    if isinstance(item, OnFrames):
        return "frames"
    if isinstance(item, _EVENT_CLASSES):
        return "events"
    if isinstance(item, Compose):
        sides = {_side(t) for t in item.transforms}
        if len(sides) != 1:
            raise ConfigError(
                f"augment: {describe_object(item)} mixes transforms of events and of frames; "
                "give them as separate entries"
            )
        return sides.pop()
    if isinstance(item, RandomCrop | RandomFlip | RandomRotation):
        return "frames"
    owner = type(item) if not inspect.isroutine(item) else item
    module = getattr(owner, "__module__", "") or ""
    if module.split(".")[0] == "tonic":
        if getattr(owner, "__name__", "").startswith("To"):
            raise ConfigError(
                f"augment: {describe_object(item)} turns events into another representation, "
                "it is no augmentation; give Tonic's ToFrame as the dataset's framing "
                "(framing=ToFrame(...))"
            )
        return "events"
    raise ConfigError(
        f"augment: cannot tell whether {describe_object(item)} works on events or on frames; "
        "wrap it as OnEvents(fn) or OnFrames(fn) (from snn_transfer.events.framing.augment)"
    )


def _callable(item: Any) -> tuple[str, Callable[..., Any]]:
    side = _side(item)
    function = item.function if isinstance(item, OnEvents | OnFrames) else item
    if not callable(function):
        raise ConfigError(f"augment: {function!r} is not callable")
    check_picklable("augment entry", function)
    if isinstance(function, Compose) or type(function).__module__.startswith(
        "snn_transfer.events."
    ):
        return side, function  # ours take (x, rng)
    return side, SeededCall(function)


def check_augment(value: Any) -> None:
    """Check the callables of an ``augment`` option (where each goes, that it pickles)
    without building anything: what options check when they are made, before any data
    loads."""
    for item in augment_items(value):
        if not isinstance(item, str):
            _callable(item)


def augmentations(
    names: Sequence[Any] | str | Any | None,
    size: tuple[int, int],
    sensor_size: tuple[int, ...] | None = None,
) -> tuple[Compose | None, Compose | None]:
    """Random training augmentation from names and callables: ``(on events, on frames)``.

    Frame augmentations run per sample after framing (and after the frame cache):
    ``"crop"`` / ``"crop(p)"``: ``RandomCrop(size, padding=p)`` (p = 4 by default);
    ``"flip"`` / ``"flip(q)"``: left-right flip with probability q (0.5);
    ``"rotate"`` / ``"rotate(d)"``: rotation by an angle uniform in [-d, d] degrees (15).
    Event augmentations run per sample before framing (``sensor_size`` ``(W, H, P)`` of the
    recordings; None when it varies, which ``drop_area`` and ``jitter`` refuse):
    ``"drop(p)"`` each event with probability p (0.1), ``"drop_time(r)"`` a window of r of
    the span (0.1), ``"drop_area(r)"`` a box of r of the sensor (0.1), ``"jitter(s)"``
    Gaussian spatial jitter of s pixels (1). Callables go where the module docstring says.
    ``size`` is the frame size (H, W). Each part is None when no entry asks for it; the
    order of the entries is kept within each part.
    """
    steps = [
        _named(item, size, sensor_size) if isinstance(item, str) else _callable(item)
        for item in augment_items(names)
    ]
    on_events = [step for side, step in steps if side == "events"]
    on_frames = [step for side, step in steps if side == "frames"]
    return (
        Compose(tuple(on_events)) if on_events else None,
        Compose(tuple(on_frames)) if on_frames else None,
    )


def augmentation(names: Sequence[Any] | str | None, size: tuple[int, int]) -> Compose | None:
    """The frame augmentations of :func:`augmentations` (datasets that serve cached frames)."""
    return augmentations(names, size)[1]
