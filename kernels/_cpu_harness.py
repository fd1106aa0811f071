"""Runs the CUDA kernels on the CPU: the same ``.cu`` source, compiled by g++ against ``cpu_shim.h``.

For tests without a GPU. ``cpu_kernels()`` builds (once, cached by a hash of the sources) a
shared library whose ``extern "C"`` wrappers launch every kernel instantiation through the
shim's sequential grid loop, loads it with ctypes, and runs it on CPU torch tensors with the
same host-side choices as the CuPy path (vector width, flags, float32 scalars).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import torch

from snn_transfer.kernels._source import (
    C_TYPES,
    DTYPES,
    FRAMES_SOURCE,
    KERNEL_DIR,
    LIF_SOURCE,
    vector_widths,
)
from snn_transfer.kernels.lif import dtype_name, launch_scalars, vector_width
from snn_transfer.kernels.parameters import LIFParameters, checked, kernel_flags
from snn_transfer.kernels.surrogates import SURROGATES

BLOCK = 32  # threads per emulated block: several blocks run even for small N
FLAGS = ("-O2", "-std=c++17", "-shared", "-fPIC", "-ffp-contract=off", "-Wall", "-Werror")
FLAGS += ("-Wno-unknown-pragmas",)

_FORWARD = """
extern "C" void lif_forward_{dtype}_{vec}(const void* x, const float* v_init, void* spike,
    void* v_seq, float* h_seq, float* v_last, int steps, long long n, float tau,
    float threshold, float reset, int flags) {{
  using T = {ctype};
  const unsigned blocks = static_cast<unsigned>((n / {vec} + {block} - 1) / {block});
  launch({{blocks, 1, 1}}, {{{block}, 1, 1}}, snn::lif_forward<T, {vec}>,
         static_cast<const T*>(x), v_init, static_cast<T*>(spike), static_cast<T*>(v_seq),
         h_seq, v_last, steps, n, tau, threshold, reset, flags);
}}
"""
_BACKWARD = """
extern "C" void lif_backward_{dtype}_{vec}_{sg}(const void* grad_spike, const void* grad_v_seq,
    const float* grad_v_last, const float* h_seq, void* grad_x, float* grad_v_init, int steps,
    long long n, float tau, float threshold, float reset, float sg_a, float sg_b, int flags) {{
  using T = {ctype};
  const unsigned blocks = static_cast<unsigned>((n / {vec} + {block} - 1) / {block});
  launch({{blocks, 1, 1}}, {{{block}, 1, 1}}, snn::lif_backward<T, {vec}, {sg}>,
         static_cast<const T*>(grad_spike), static_cast<const T*>(grad_v_seq), grad_v_last,
         h_seq, static_cast<T*>(grad_x), grad_v_init, steps, n, tau, threshold, reset, sg_a,
         sg_b, flags);
}}
"""
_FRAMES = """
extern "C" void bin_events(const int* x, const int* y, const int* p, const long long* starts,
    const long long* ends, float* frames, int n_frames, int width, int height, int n_pol,
    unsigned blocks_x, unsigned blocks_y) {{
  launch({{blocks_x, blocks_y, 1}}, {{{block}, 1, 1}}, snn::bin_events, x, y, p, starts, ends,
         frames, n_frames, width, height, n_pol);
}}
"""


def wrapper_source() -> str:
    """The C++ translation unit: both ``.cu`` files and one wrapper per instantiation."""
    parts = [f'#include "{LIF_SOURCE}"\n#include "{FRAMES_SOURCE}"\n']
    for dtype in DTYPES:
        for vec in vector_widths(dtype):
            fields = {"dtype": dtype, "vec": vec, "ctype": C_TYPES[dtype], "block": BLOCK}
            parts.append(_FORWARD.format(**fields))
            for sg in range(len(SURROGATES)):
                parts.append(_BACKWARD.format(sg=sg, **fields))
    parts.append(_FRAMES.format(block=BLOCK))
    return "".join(parts)


def _build(compiler: str, folder: Path) -> Path:
    library = folder / "snn_kernels_cpu.so"
    if library.is_file():
        return library
    work = Path(tempfile.mkdtemp(prefix="build-", dir=folder))
    for header in ("cuda_fp16.h", "cuda_bf16.h"):  # the shim stands in for the CUDA headers
        (work / header).write_text('#include "cpu_shim.h"\n')
    (work / "kernels.cpp").write_text(wrapper_source())
    command = [compiler, *FLAGS, "-include", "cpu_shim.h", f"-I{work}", f"-I{KERNEL_DIR}"]
    command += [str(work / "kernels.cpp"), "-o", str(work / library.name)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr}")
    os.replace(work / library.name, library)  # atomic: concurrent builds agree
    shutil.rmtree(work, ignore_errors=True)
    return library


@cache
def cpu_kernels(compiler: str = "g++") -> CpuKernels:
    """The kernels built for the CPU (RuntimeError if the compiler fails or is missing)."""
    if shutil.which(compiler) is None:
        raise RuntimeError(f"the CPU harness needs a C++ compiler; {compiler!r} is not on PATH")
    digest = hashlib.sha256(wrapper_source().encode())
    for name in ("cpu_shim.h", LIF_SOURCE, FRAMES_SOURCE):
        digest.update((KERNEL_DIR / name).read_bytes())
    digest.update(" ".join((compiler, *FLAGS)).encode())
    root = os.environ.get("SNN_TRANSFER_CACHE", tempfile.gettempdir())
    folder = Path(root) / "snn_transfer_cpu_kernels" / digest.hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    return CpuKernels(ctypes.CDLL(str(_build(compiler, folder))))


def _ptr(tensor: torch.Tensor | None) -> ctypes.c_void_p:
    return ctypes.c_void_p(None if tensor is None else tensor.data_ptr())


class CpuKernels:
    """ctypes front end of the CPU build; every tensor is a contiguous CPU tensor."""

    def __init__(self, library: ctypes.CDLL) -> None:
        self.library = library

    def _scalars(self, params: LIFParameters) -> list[ctypes.c_float]:
        return [ctypes.c_float(float(value)) for value in launch_scalars(params)]

    def lif_forward(
        self,
        x_seq: torch.Tensor,
        v_init: torch.Tensor,
        params: LIFParameters,
        *,
        store_v_seq: bool = True,
        save_h: bool = True,
        vec: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor]:
        """``(spike, v_seq, h_seq, v_last)`` for ``x_seq`` ``[T, N]`` and ``v_init`` ``[N]``."""
        params = checked(params)
        steps, n = x_seq.shape
        x_seq, v_init = x_seq.contiguous(), v_init.float().contiguous()
        spike = torch.empty_like(x_seq)
        v_seq = torch.empty_like(x_seq) if store_v_seq else None
        h_seq = torch.empty(steps, n) if save_h else None
        v_last = torch.empty(n)
        vec = vec or vector_width(n, x_seq.dtype, [x_seq, v_init, spike, v_seq, h_seq, v_last])
        function = getattr(self.library, f"lif_forward_{dtype_name(x_seq.dtype)}_{vec}")
        tau, threshold, reset, _, _ = self._scalars(params)
        function(
            *map(_ptr, (x_seq, v_init, spike, v_seq, h_seq, v_last)),
            ctypes.c_int(steps),
            ctypes.c_longlong(n),
            tau,
            threshold,
            reset,
            ctypes.c_int(kernel_flags(params)),
        )
        return spike, v_seq, h_seq, v_last

    def lif_backward(
        self,
        grad_spike: torch.Tensor | None,
        grad_v_seq: torch.Tensor | None,
        grad_v_last: torch.Tensor | None,
        h_seq: torch.Tensor,
        params: LIFParameters,
        *,
        dtype: torch.dtype = torch.float32,
        want_v_init: bool = True,
        vec: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(grad_x [T, N] of dtype, grad_v_init [N] float32 or None)``."""
        params = checked(params)
        steps, n = h_seq.shape
        grads = [None if g is None else g.to(dtype).contiguous() for g in (grad_spike, grad_v_seq)]
        if grad_v_last is not None:
            grad_v_last = grad_v_last.float().contiguous()
        grad_x = torch.empty(steps, n, dtype=dtype)
        grad_v = torch.empty(n) if want_v_init else None
        tensors = [*grads, grad_v_last, h_seq, grad_x, grad_v]
        vec = vec or vector_width(n, dtype, tensors)
        sg = SURROGATES.index(params.surrogate)
        function = getattr(self.library, f"lif_backward_{dtype_name(dtype)}_{vec}_{sg}")
        function(
            *map(_ptr, tensors),
            ctypes.c_int(steps),
            ctypes.c_longlong(n),
            *self._scalars(params),
            ctypes.c_int(kernel_flags(params)),
        )
        return grad_x, grad_v

    def bin_events(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        p: torch.Tensor | None,
        starts: torch.Tensor,
        ends: torch.Tensor,
        sensor_size: tuple[int, int, int],
        blocks: tuple[int, int] = (3, 2),
    ) -> torch.Tensor:
        """Frames ``[F, P, H, W]`` float32 from int32 ``x, y, p`` and int64 ``starts, ends``."""
        width, height, n_pol = sensor_size
        coords = [None if c is None else c.to(torch.int32).contiguous() for c in (x, y, p)]
        bounds = [torch.as_tensor(b, dtype=torch.int64).contiguous() for b in (starts, ends)]
        frames = torch.zeros(len(bounds[0]), n_pol, height, width)
        self.library.bin_events(
            *map(_ptr, (*coords, *bounds, frames)),
            *(ctypes.c_int(v) for v in (len(bounds[0]), width, height, n_pol)),
            *(ctypes.c_uint(b) for b in blocks),
        )
        return frames
