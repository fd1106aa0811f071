"""snn-transfer: spiking networks on DVS events, trained with knowledge from static images.

Public names are resolved lazily, so ``import snn_transfer.events`` (and the ``snn-events``
CLI) never imports torch, SpikingJelly or the trainer.
"""

from __future__ import annotations

import importlib
from typing import Any

from snn_transfer._version import __version__

# public name -> module that defines it; filled in as the package grows
_LAZY: dict[str, str] = {
    "SnnTransferError": "snn_transfer.errors",
    "EventFormatError": "snn_transfer.errors",
    "ConfigError": "snn_transfer.errors",
    "DatasetError": "snn_transfer.errors",
    "create_model": "snn_transfer.models",
    "register_model": "snn_transfer.models",
    "wrap_spikingjelly": "snn_transfer.models",
    "SpikingModel": "snn_transfer.models",
    "list_models": "snn_transfer.models",
    "count_parameters": "snn_transfer.models",
    "TransferModel": "snn_transfer.models",
    "TransferOutput": "snn_transfer.models",
    "NeuronConfig": "snn_transfer.models",
    "TransferConfig": "snn_transfer.run_config",
    "Trainer": "snn_transfer.trainer",
    "TrainingDiverged": "snn_transfer.step",
    "load_run": "snn_transfer.rundir",
    "LossConfig": "snn_transfer.losses",
    "SlidingSchedule": "snn_transfer.sliding",
    "OptimConfig": "snn_transfer.optim",
    "evaluate_run": "snn_transfer.evaluate",
    "compare_runs": "snn_transfer.compare",
    "export_nir": "snn_transfer.export",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'snn_transfer' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
