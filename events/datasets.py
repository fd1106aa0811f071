"""The public face of the dataset layer: load a paired dataset by name.

::

    from snn_transfer.events.datasets import load_dataset, dataset_names

    data = load_dataset("digits", time_steps=8)  # a PairedData
    frames, label = data.train[0]  # float32 [T, P, H, W], int
    data = load_dataset(tonic_dataset, time_steps=8)  # a Tonic dataset object: from_tonic
    data = load_dataset("tonic", name="NMNIST", save_to="data")  # by class, from a folder

The registry lives in ``events.registry``, the values it serves in ``events.containers``,
the emulated entries in ``events.emulated`` and the recorded datasets in
``events.recorded``; this module re-exports what users of the package need.
"""

from __future__ import annotations

from snn_transfer.events.containers import EventFrames, EventsArray, FramesArray, PairedData
from snn_transfer.events.framing.augment import OnEvents, OnFrames
from snn_transfer.events.recorded.tonic import from_tonic
from snn_transfer.events.recorded.tonic_open import open_tonic
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
    "OnEvents",
    "OnFrames",
    "PairedData",
    "check_dataset_options",
    "dataset_entry",
    "dataset_names",
    "from_tonic",
    "load_dataset",
    "open_tonic",
    "register_dataset",
]
