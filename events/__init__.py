"""The data layer: event files, framing, event transforms, static images, pairing, caches.

Imports nothing heavy at import time (no torch, no SpikingJelly); functions that need torch
import it when called. The common names are exported lazily::

    from snn_transfer.events import load_dataset, read_events, ToFrame, PairedDataset
"""

from __future__ import annotations

import importlib
from typing import Any

from snn_transfer.events.core import EVENT_DTYPE, as_events, make_events, validate_events

_LAZY = {
    "load_dataset": "snn_transfer.events.datasets",
    "dataset_names": "snn_transfer.events.datasets",
    "from_tonic": "snn_transfer.events.datasets",
    "PairedDataset": "snn_transfer.events.pairing",
    "read_events": "snn_transfer.events.io",
    "write_events": "snn_transfer.events.io",
    "ToFrame": "snn_transfer.events.framing",
    "PaperFrames": "snn_transfer.events.framing",
    "render": "snn_transfer.events.render",
    "emulate_saccades": "snn_transfer.events.saccades",
}

__all__ = ["EVENT_DTYPE", "as_events", "make_events", "validate_events", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'snn_transfer.events' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
