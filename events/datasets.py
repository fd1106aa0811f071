"""The public face of the dataset layer: load a paired dataset by name.

::

    from snn_transfer.events.datasets import load_dataset, dataset_names

    data = load_dataset("digits", time_steps=8)  # a PairedData
    frames, label = data.train[0]  # float32 [T, P, H, W], int

The registry lives in ``events.registry``, the values it serves in ``events.containers``,
the emulated entries in ``events.emulated`` and the recorded datasets in
``events.recorded``; this module re-exports what users of the package need.
"""

from __future__ import annotations

from snn_transfer.events.containers import EventFrames, EventsArray, FramesArray, PairedData
from snn_transfer.events.registry import (
    STATIC_INPUTS,
    STATIC_OPTIONS,
    DatasetEntry,
    check_dataset_options,
    dataset_entry,
    dataset_names,
    load_dataset,
    register_dataset,
)

__all__ = [
    "STATIC_INPUTS",
    "STATIC_OPTIONS",
    "DatasetEntry",
    "EventFrames",
    "EventsArray",
    "FramesArray",
    "PairedData",
    "check_dataset_options",
    "dataset_entry",
    "dataset_names",
    "load_dataset",
    "register_dataset",
]
