"""The CUDA sources, their kernel names and the compile options, shared by every path.

The CuPy launcher, the NVRTC compile test and the CPU harness all take the kernel source, the
template instantiations and the options from here, so what the tests compile is what runs.
Nothing here imports torch or CuPy.
"""

from __future__ import annotations

import importlib.util
import os
from functools import cache
from pathlib import Path

from snn_transfer.kernels.surrogates import SURROGATES

KERNEL_DIR = Path(__file__).resolve().parent
LIF_SOURCE = "lif.cu"
FRAMES_SOURCE = "frames.cu"
SOURCES: tuple[str, ...] = (LIF_SOURCE, FRAMES_SOURCE)


DTYPES: tuple[str, ...] = ("float32", "float16", "bfloat16")
C_TYPES: dict[str, str] = {"float32": "float", "float16": "__half", "bfloat16": "__nv_bfloat16"}
ITEM_SIZE: dict[str, int] = {"float32": 4, "float16": 2, "bfloat16": 2}
VECTOR_WIDTH: dict[str, int] = {name: 16 // size for name, size in ITEM_SIZE.items()}
"""Neurons per thread of the vectorised kernels: one 16-byte access of the input type."""

# Bits of the kernels' `flags` argument (lif.cu).
DECAY_INPUT, HARD_RESET, DETACH_RESET = 1, 2, 4

FRAMES_KERNEL = "snn::bin_events"

# CuPy appends these to the options of every module it compiles (flush denormals to zero);
# the compile test adds them too. CuPy then adds `-arch=sm_XX` for the current device.
CUPY_APPENDED_OPTIONS: tuple[str, ...] = ("-ftz=true",)


def read_source(name: str) -> str:
    """Text of one ``.cu`` file of this package."""
    return (KERNEL_DIR / name).read_text()


def lif_forward_name(dtype: str, vec: int) -> str:
    """Name expression of the forward kernel for an input dtype name and vector width."""
    return f"snn::lif_forward<{C_TYPES[dtype]}, {vec}>"


def lif_backward_name(dtype: str, vec: int, surrogate: str) -> str:
    """Name expression of the backward kernel for a dtype, vector width and surrogate."""
    return f"snn::lif_backward<{C_TYPES[dtype]}, {vec}, {SURROGATES.index(surrogate)}>"


def vector_widths(dtype: str) -> tuple[int, ...]:
    """Vector widths compiled for a dtype: 1 (any N) and the 16-byte width."""
    return (1, VECTOR_WIDTH[dtype])


@cache
def lif_name_expressions(dtype: str) -> tuple[str, ...]:
    """Every LIF kernel instantiation one module holds for an input dtype."""
    names = [lif_forward_name(dtype, vec) for vec in vector_widths(dtype)]
    names += [
        lif_backward_name(dtype, vec, surrogate)
        for vec in vector_widths(dtype)
        for surrogate in SURROGATES
    ]
    return tuple(names)


def _candidate_include_dirs() -> list[Path]:
    found: list[Path] = []
    for variable in ("CUDA_PATH", "CUDA_HOME"):
        if os.environ.get(variable):
            found.append(Path(os.environ[variable]) / "include")
    spec = importlib.util.find_spec("nvidia")
    for root in (spec.submodule_search_locations or []) if spec else []:
        # CUDA 13 wheels put every header under nvidia/cu13; CUDA 12 wheels, per component
        found += [Path(root) / "cu13" / "include", Path(root) / "cuda_runtime" / "include"]
    found.append(Path("/usr/local/cuda/include"))
    found += sorted(Path("/usr/local").glob("cuda-*/include"), reverse=True)
    return found


@cache
def cuda_include_dirs() -> tuple[str, ...]:
    """The CUDA include folder holding ``cuda_bf16.h`` (NVRTC does not search for it).

    Looks at ``$CUDA_PATH``, ``$CUDA_HOME``, the nvidia wheels in site-packages and
    ``/usr/local/cuda*``; empty when none has the headers (CuPy then adds its own).
    """
    for folder in _candidate_include_dirs():
        if (folder / "cuda_bf16.h").is_file() and (folder / "cuda_fp16.h").is_file():
            return (str(folder),)
    return ()


def compile_options() -> tuple[str, ...]:
    """Options the launcher passes to ``cupy.RawModule`` for every ``.cu`` file."""
    return ("--std=c++17", *(f"-I{folder}" for folder in cuda_include_dirs()))


def nvrtc_options(arch: str) -> tuple[str, ...]:
    """What NVRTC receives from CuPy for a device of ``arch`` (e.g. ``"sm_90"``)."""
    return (*compile_options(), *CUPY_APPENDED_OPTIONS, f"-arch={arch}")
