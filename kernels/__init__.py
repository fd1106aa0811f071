"""CuPy-fused CUDA kernels, their torch references, and the neuron module that wraps them.

* ``FusedLIFNode``: multi-step LIF layer for SpikingJelly networks (same arguments as
  ``LIFNode``), fused CUDA kernels on GPUs with CuPy, the torch reference elsewhere.
* ``lif_multi_step(x_seq, v, params)``: the same as a function; ``FusedLIF`` is its autograd
  function and ``reference.lif_multi_step`` the pure torch reference (the CPU path).
* ``bin_events``: events to frames ``[F, P, H, W]`` with atomic adds on the GPU.

CUDA sources: ``lif.cu`` and ``frames.cu``. Names resolve lazily; CuPy is imported only when a
kernel is first launched, and neither Tonic nor ``snn_transfer.events`` is ever imported.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    "FusedLIFNode": "snn_transfer.kernels.neuron",
    "surrogate_from_spikingjelly": "snn_transfer.kernels.neuron",
    "FusedLIF": "snn_transfer.kernels.lif",
    "lif_multi_step": "snn_transfer.kernels.lif",
    "LIFParameters": "snn_transfer.kernels.parameters",
    "LIFOutput": "snn_transfer.kernels.reference",
    "lif_step": "snn_transfer.kernels.reference",
    "bin_events": "snn_transfer.kernels.frames",
    "bin_events_reference": "snn_transfer.kernels.reference",
    "SURROGATES": "snn_transfer.kernels.surrogates",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'snn_transfer.kernels' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
