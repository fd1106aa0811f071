"""Framings given as any callable ``events -> frames``: a user's function, Tonic's ``ToFrame``.

:class:`CallableFraming` makes such a callable a spec, so that it sits in a
:class:`~snn_transfer.events.framing.pipeline.FramePipeline` and keys the frame cache. The
callable itself is kept out of the fingerprint (a field with ``fingerprint: False``
metadata) and stands there as :func:`describe_callable`: its qualified name plus

* for a dataclass (Tonic's transforms, ours): its repr, i.e. its parameters;
* for a function: a digest of its code (bytecode, constants, names), so that editing the
  function rebuilds the cache, while moving the project does not;
* for any other object: a digest of its pickle (its state).

The callable must pickle (checkpoints keep the framing, worker processes receive it); a
lambda or a nested function is refused when the framing is made, before any data loads.
Frames of any real dtype (Tonic's ``ToFrame`` gives int16, which wraps past 32767 events
per pixel) come out float32 ``[T, P, H, W]``.

:class:`GivenFrames` is the framing of samples that are frames already (a Tonic dataset
whose own ``transform`` frames them): float32, shape checked, nothing else.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import pickle
import types
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from snn_transfer.errors import ConfigError
from snn_transfer.events.checks import check_picklable, describe_object, float_frames
from snn_transfer.events.spec import Spec


def _code_digest(code: types.CodeType) -> str:
    """Digest of a code object: bytecode, names and constants (nested code recursively; their
    reprs would hold memory addresses)."""
    hasher = hashlib.sha256(code.co_code)
    hasher.update(repr(code.co_names).encode())
    for const in code.co_consts:
        text = _code_digest(const) if isinstance(const, types.CodeType) else repr(const)
        hasher.update(text.encode() + b"\0")
    return hasher.hexdigest()[:16]


def describe_callable(value: Any) -> str:
    """A description of ``value`` that is the same in every process and changes with its
    parameters (see the module docstring); ``value`` must pickle."""
    if isinstance(value, Spec):
        return f"{type(value).__name__} {value.fingerprint()}"
    if isinstance(value, functools.partial):
        inner = describe_callable(value.func)
        return f"partial({inner}, {value.args!r}, {sorted(value.keywords.items())!r})"
    if isinstance(value, types.FunctionType):
        return f"{describe_object(value)} code {_code_digest(value.__code__)}"
    if isinstance(value, type | types.BuiltinFunctionType):
        return describe_object(value)
    kind = describe_object(type(value))
    if dataclasses.is_dataclass(value):
        return f"{kind} {value!r}"
    return f"{kind} pickle {hashlib.sha256(pickle.dumps(value)).hexdigest()[:16]}"


def _four_dims(frames: Any, what: str) -> Any:
    if len(frames.shape) != 4:
        raise ConfigError(
            f"{what}: frames must be [T, P, H, W] (4 dimensions), got shape {tuple(frames.shape)}"
        )
    return frames


@dataclass(frozen=True)
class CallableFraming(Spec):
    """Any picklable callable ``events -> frames`` as a framing spec: ``framing(events,
    path=None)`` gives float32 ``[T, P, H, W]``. ``description`` (set from the callable, see
    :func:`describe_callable`) is what the cache fingerprint holds."""

    function: Any = field(metadata={"fingerprint": False}, compare=False)
    description: str = field(init=False, default="")

    def __post_init__(self) -> None:
        if not callable(self.function):
            raise ConfigError(f"framing: {self.function!r} is not callable (events -> frames)")
        check_picklable("framing", self.function)
        object.__setattr__(self, "description", describe_callable(self.function))

    def __call__(self, events: np.ndarray, *, path: object | None = None) -> Any:
        what = f"framing {describe_object(self.function)}" + (f" on {path}" if path else "")
        return _four_dims(float_frames(self.function(events), what), what)


@dataclass(frozen=True)
class GivenFrames(Spec):
    """The framing of samples that are frames already: float32, checked to be
    ``[T, P, H, W]``; events are refused (their dataset does not frame them)."""

    def __call__(self, frames: Any, *, path: object | None = None) -> Any:
        what = "sample" + (f" {path}" if path else "")
        return _four_dims(float_frames(frames, what), what)


def framing_spec(framing: Any) -> Spec:
    """``framing`` as a spec for a ``FramePipeline``: a callable spec as it is, any other
    callable wrapped in :class:`CallableFraming`."""
    if isinstance(framing, Spec) and callable(framing):
        return framing
    return CallableFraming(framing)
