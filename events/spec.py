"""Specs: frozen dataclasses that describe a processing step and key the caches built from it.

A spec is a value: it prints, compares and hashes, and ``fingerprint()`` turns it into a short
string that is the same in every process, so a cache built with one spec is never served for
another. A field declared with ``metadata={"fingerprint": False}`` is left out of
``fields()`` and ``fingerprint()``: a spec wrapping a user's function keeps the function
there and fingerprints a stable description of it instead (``framing.custom``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import numpy as np

from snn_transfer.errors import ConfigError

# Part of every fingerprint: bump it when a spec's output changes for the same fields, so
# frame caches built with the old behaviour are not reused.
SEMANTICS_VERSION = 1


def _plain(value: Any) -> Any:
    """JSON-ready form of a spec field; nested specs keep their class name."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {
            f.name: _plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.metadata.get("fingerprint", True)
        }
        return {"class": type(value).__name__, "fields": fields}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _unstorable(value: Any) -> Any:
    raise ConfigError(
        f"cannot fingerprint {value!r}: spec fields must be numbers, strings, tuples or specs"
    )


class Spec:
    """Mixin for frozen dataclass specs: ``fields()`` to store them, ``fingerprint()`` to key
    caches on them."""

    def fields(self) -> dict[str, Any]:
        """The parameters as plain JSON-ready values (nested specs as class + fields)."""
        return _plain(self)["fields"]

    def fingerprint(self) -> str:
        """A 16-hex-digit hash of the class name and fields, stable across processes."""
        payload = json.dumps(
            {"class": type(self).__name__, "semantics": SEMANTICS_VERSION, **_plain(self)},
            sort_keys=True,
            separators=(",", ":"),
            default=_unstorable,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]
