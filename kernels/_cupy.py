"""Compiling and launching this package's CUDA kernels with CuPy (imported on first use).

Kernels are compiled by ``cupy.RawModule`` from the ``.cu`` files with the options of
``_source.compile_options`` (CuPy caches the binaries on disk), one module per device, source and
dtype. Tensors are passed zero-copy as their device pointers, the pointer that
``__cuda_array_interface__`` exposes, without building a CuPy array per tensor and call, and
every launch goes to torch's current stream of the tensors' device.
"""

from __future__ import annotations

import importlib.util
import warnings
from typing import Any

import numpy as np
import torch

from snn_transfer.kernels._source import compile_options, read_source

_modules: dict[tuple[int, str, tuple[str, ...]], Any] = {}
_streams: dict[tuple[int, int], Any] = {}


def cupy_available() -> bool:
    """True when CuPy is installed (says nothing about a GPU)."""
    return importlib.util.find_spec("cupy") is not None


def import_cupy() -> Any:
    """The ``cupy`` module, or ImportError naming the extras that install it."""
    try:
        import cupy
    except ImportError as error:
        raise ImportError(
            "the fused CUDA kernels need CuPy: install snn-transfer[cuda13] or "
            "snn-transfer[cuda12] to match your CUDA major version"
        ) from error
    return cupy


def kernel(device: torch.device, source: str, names: tuple[str, ...], name: str) -> Any:
    """The compiled kernel ``name`` of ``source``; ``names`` are the module's instantiations."""
    index = torch.cuda.current_device() if device.index is None else device.index
    key = (index, source, names)
    module = _modules.get(key)
    if module is None:
        cupy = import_cupy()
        with cupy.cuda.Device(index):
            module = cupy.RawModule(
                code=read_source(source), options=compile_options(), name_expressions=names
            )
            module.compile()
        _modules[key] = module
    return module.get_function(name)


def _stream(device: torch.device) -> Any:
    torch_stream = torch.cuda.current_stream(device)
    key = (torch_stream.device_index, torch_stream.cuda_stream)
    stream = _streams.get(key)
    if stream is None:
        cupy = import_cupy()
        with warnings.catch_warnings():
            # ExternalStream is deprecated in CuPy 14 in favour of Stream.from_external
            warnings.simplefilter("ignore", DeprecationWarning)
            stream = cupy.cuda.ExternalStream(torch_stream.cuda_stream, key[0])
        _streams[key] = stream
    return stream


def pointer(tensor: torch.Tensor | None) -> np.uint64:
    """Kernel argument for a tensor: its device address (0 for None)."""
    return np.uint64(0 if tensor is None else tensor.data_ptr())


def launch(
    device: torch.device,
    function: Any,
    grid: tuple[int, ...],
    block: tuple[int, ...],
    args: tuple[Any, ...],
) -> None:
    """Launch ``function`` on torch's current stream of ``device``."""
    cupy = import_cupy()
    index = torch.cuda.current_device() if device.index is None else device.index
    with cupy.cuda.Device(index), _stream(torch.device("cuda", index)):
        function(grid, block, args)
