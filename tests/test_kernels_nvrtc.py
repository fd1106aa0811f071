"""Every .cu file compiles through NVRTC for sm_80 and sm_90 with the options CuPy will use.

NVRTC (``cuda.bindings.nvrtc``, installed with torch's CUDA build) needs no GPU. The options are
``_source.nvrtc_options``: the launcher's ``compile_options()`` plus what CuPy appends; every
template instantiation the launcher asks CuPy for is added as a name expression.
"""

from __future__ import annotations

import re

import pytest

from snn_transfer.kernels._source import (
    DTYPES,
    FRAMES_KERNEL,
    FRAMES_SOURCE,
    LIF_SOURCE,
    SOURCES,
    VECTOR_WIDTH,
    compile_options,
    cuda_include_dirs,
    lif_backward_name,
    lif_forward_name,
    lif_name_expressions,
    nvrtc_options,
    read_source,
)

nvrtc = pytest.importorskip("cuda.bindings.nvrtc", reason="cuda-bindings (NVRTC) not installed")

ARCHS = ("sm_80", "sm_90")
MODULES = [(LIF_SOURCE, lif_name_expressions(dtype)) for dtype in DTYPES]
MODULES.append((FRAMES_SOURCE, (FRAMES_KERNEL,)))


def _check(result) -> None:
    assert result[0] == nvrtc.nvrtcResult.NVRTC_SUCCESS, result


def compile_program(source: str, names, options) -> dict:
    """NVRTC result: ``ok``, ``log``, ``lowered`` names, ``cubin`` size and ``ptx`` text."""
    err, program = nvrtc.nvrtcCreateProgram(
        read_source(source).encode(), source.encode(), 0, [], []
    )
    _check((err,))
    try:
        for name in names:
            _check(nvrtc.nvrtcAddNameExpression(program, name.encode()))
        encoded = [option.encode() for option in options]
        (status,) = nvrtc.nvrtcCompileProgram(program, len(encoded), encoded)
        err, size = nvrtc.nvrtcGetProgramLogSize(program)
        log = b" " * size
        nvrtc.nvrtcGetProgramLog(program, log)
        result = {
            "ok": status == nvrtc.nvrtcResult.NVRTC_SUCCESS,
            "log": log.decode(errors="replace"),
        }
        if not result["ok"]:
            return result
        result["lowered"] = {
            name: nvrtc.nvrtcGetLoweredName(program, name.encode())[1] for name in names
        }
        if any(option.startswith("-arch=sm_") for option in options):
            err, size = nvrtc.nvrtcGetCUBINSize(program)
            result["cubin"] = size
        else:
            err, size = nvrtc.nvrtcGetPTXSize(program)
            ptx = b" " * size
            nvrtc.nvrtcGetPTX(program, ptx)
            result["ptx"] = ptx.decode(errors="replace")
        return result
    finally:
        nvrtc.nvrtcDestroyProgram(program)


def test_the_cuda_headers_are_found_and_passed():
    folders = cuda_include_dirs()
    if not folders:
        pytest.skip("CUDA headers not found (install nvidia-cuda-runtime or set CUDA_PATH)")
    assert f"-I{folders[0]}" in compile_options()
    assert compile_options()[0] == "--std=c++17"
    assert nvrtc_options("sm_90")[-2:] == ("-ftz=true", "-arch=sm_90")


def test_every_source_is_compiled_here():
    assert {source for source, _ in MODULES} == set(SOURCES)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize(
    ("source", "names"), MODULES, ids=lambda v: v if isinstance(v, str) else v[0]
)
def test_compiles_for_the_architecture(arch, source, names):
    if not cuda_include_dirs():
        pytest.skip("CUDA headers not found (install nvidia-cuda-runtime or set CUDA_PATH)")
    result = compile_program(source, names, nvrtc_options(arch))
    assert result["ok"], result["log"]
    assert "warning" not in result["log"], result["log"]
    assert result["cubin"] > 1000
    for name, lowered in result["lowered"].items():
        short = name.split("<")[0].split("::")[-1].encode()
        assert lowered.startswith(b"_Z") and short in lowered, (name, lowered)


def _kernel_ptx(ptx: str, mangled: bytes) -> str:
    start = ptx.index(f".entry {mangled.decode()}(")
    end = ptx.find(".entry ", start + 1)
    return ptx[start : None if end < 0 else end]


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_vectorised_kernels_move_16_bytes_per_access(dtype):
    if not cuda_include_dirs():
        pytest.skip("CUDA headers not found (install nvidia-cuda-runtime or set CUDA_PATH)")
    names = lif_name_expressions(dtype)
    result = compile_program(LIF_SOURCE, names, (*compile_options(), "-arch=compute_90"))
    assert result["ok"], result["log"]
    vec = VECTOR_WIDTH[dtype]
    for name in (lif_forward_name(dtype, vec), lif_backward_name(dtype, vec, "sigmoid")):
        body = _kernel_ptx(result["ptx"], result["lowered"][name])
        wide_loads = re.findall(r"ld\.global(?:\.nc)?\.v4\.(?:f32|u32|b32)", body)
        wide_stores = re.findall(r"st\.global\.v4\.(?:f32|u32|b32)", body)
        scalar = re.findall(r"(?:ld|st)\.global(?:\.nc)?\.(?:f32|u16|b16)\s", body)
        assert len(wide_loads) >= 2 and len(wide_stores) >= 2, name
        assert not scalar, (name, scalar[:3])
    body = _kernel_ptx(result["ptx"], result["lowered"][lif_forward_name(dtype, 1)])
    assert "v4" not in body  # the scalar kernel, for N that is not a multiple of the width
