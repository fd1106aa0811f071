"""What a checkpoint holds: tensors and plain data only, so that reading one runs no code.

``torch.load(..., weights_only=True)`` rebuilds tensors, dicts, lists, tuples, sets, strings,
numbers, booleans and None (and a few torch values: dtypes, devices, sizes) and refuses every
other object a pickle names, so a checkpoint someone shared cannot execute code when it is
loaded. :func:`check_plain` refuses, before anything is written, a state holding anything
else, naming the key. The trainer keeps two things in other forms, converted here:

* the numpy RNG state: :func:`numpy_rng_state` (a dict with the key as an int64 tensor) and
  :func:`set_numpy_rng_state`;
* the framing (a frozen spec such as ``FramePipeline``): :func:`spec_to_plain` gives
  ``{"class", "fields", "fingerprint"}``, and :func:`spec_from_plain` rebuilds the spec by its
  class name among the package's specs, checking that its fingerprint is unchanged.

Checkpoints written before this format pickled those two as objects; :func:`legacy_globals`
names the classes that reading them may rebuild (numpy arrays and the package's specs, all
plain values), and :func:`to_plain` converts what such a file holds into the plain form.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from snn_transfer.checkpoint_file import CheckpointError

_PLAIN = (str, int, float, bool, bytes, complex, type(None), torch.dtype, torch.device, torch.Size)
_CONTAINERS = (list, tuple, set, frozenset)


def check_plain(value: Any, key: str = "state") -> None:
    """Raise :class:`CheckpointError` naming the first value of ``value`` (at ``key``, e.g.
    ``state['model']['x']``) that is not a tensor or plain data."""
    if isinstance(value, (*_PLAIN, torch.Tensor)):
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str | int | float | bool | type(None)):
                raise CheckpointError(f"{key} has a key of type {type(k).__name__}: {k!r}")
            check_plain(v, f"{key}[{k!r}]")
        return
    if isinstance(value, _CONTAINERS):
        for i, item in enumerate(value):
            check_plain(item, f"{key}[{i}]")
        return
    raise CheckpointError(
        f"{key} is a {type(value).__module__}.{type(value).__qualname__}; a checkpoint holds "
        "only tensors and plain data (dicts, lists, tuples, strings, numbers, booleans, None), "
        "which torch.load(weights_only=True) reads without running code"
    )


def numpy_rng_state() -> dict[str, Any]:
    """numpy's global RNG state as plain data (the key as an int64 tensor)."""
    state = np.random.get_state(legacy=False)
    return {
        "bit_generator": state["bit_generator"],
        "key": torch.from_numpy(state["state"]["key"].astype(np.int64)),
        "pos": int(state["state"]["pos"]),
        "has_gauss": int(state["has_gauss"]),
        "gauss": float(state["gauss"]),
    }


def set_numpy_rng_state(state: Any) -> None:
    """Restore what :func:`numpy_rng_state` returned (or the tuple older checkpoints kept)."""
    if isinstance(state, Mapping):
        key = np.asarray(state["key"], dtype=np.int64).astype(np.uint32)
        np.random.set_state(
            {
                "bit_generator": state["bit_generator"],
                "state": {"key": key, "pos": int(state["pos"])},
                "has_gauss": int(state["has_gauss"]),
                "gauss": float(state["gauss"]),
            }
        )
        return
    name, key, pos, has_gauss, gauss = state
    np.random.set_state((name, np.asarray(key).astype(np.uint32), pos, has_gauss, gauss))


def spec_classes() -> dict[str, type]:
    """The package's frozen specs by class name (the framings, transforms and augmentations)."""
    import snn_transfer.events.framing  # noqa: F401  (imports every framing spec)
    from snn_transfer.events.spec import Spec

    found: dict[str, type] = {}
    todo = [Spec]
    while todo:
        for cls in todo.pop().__subclasses__():
            found[cls.__name__] = cls
            todo.append(cls)
    return found


def spec_to_plain(spec: Any) -> dict[str, Any] | None:
    """``{"class", "fields", "fingerprint"}`` of a spec; None for None or anything that is not
    one of the package's specs (it cannot be stored without pickling code)."""
    if spec is None or not hasattr(spec, "fingerprint") or not dataclasses.is_dataclass(spec):
        return None
    return {
        "class": type(spec).__name__,
        "fields": spec.fields(),
        "fingerprint": spec.fingerprint(),
    }


def _build(value: Any, classes: dict[str, type]) -> Any:
    if isinstance(value, Mapping) and set(value) >= {"class", "fields"}:
        cls = classes.get(value["class"])
        if cls is None:
            raise CheckpointError(
                f"the stored spec {value['class']!r} is not one of this snn-transfer's specs"
            )
        return cls(**{k: _build(v, classes) for k, v in value["fields"].items()})
    if isinstance(value, list | tuple):
        return tuple(_build(v, classes) for v in value)
    return value


def spec_from_plain(plain: Mapping[str, Any] | None) -> Any:
    """The spec :func:`spec_to_plain` described (None for None); CheckpointError if its class
    is unknown or its fingerprint changed (this version frames differently)."""
    if plain is None:
        return None
    spec = _build(plain, spec_classes())
    stored = plain.get("fingerprint")
    if stored is not None and spec.fingerprint() != stored:
        raise CheckpointError(
            f"the stored framing {plain['class']} has fingerprint {stored}, but rebuilt by this "
            f"snn-transfer it has {spec.fingerprint()}: its framing changed since"
        )
    return spec


def legacy_globals() -> list[Any]:
    """What checkpoints of the older formats may name besides tensors: numpy arrays and the
    package's specs (values without behaviour on loading)."""
    core = np._core if hasattr(np, "_core") else np.core
    return [
        core.multiarray._reconstruct,
        core.multiarray.scalar,
        np.ndarray,
        np.dtype,
        *{type(np.dtype(kind)) for kind in ("u4", "i8", "f8", "f4", "i4", "bool", "u1")},
        *spec_classes().values(),
    ]


def to_plain(value: Any) -> Any:
    """``value`` with numpy arrays as tensors, numpy scalars as Python numbers and specs as
    :func:`spec_to_plain` dicts (what an older checkpoint holds, in today's form)."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value))
    if isinstance(value, np.generic):
        return value.item()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return spec_to_plain(value)
    if isinstance(value, dict):
        return type(value)((k, to_plain(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return type(value)(to_plain(v) for v in value)
    return value
