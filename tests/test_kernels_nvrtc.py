"""Every .cu file compiles through NVRTC for sm_80 and sm_90 with the options CuPy will use.

NVRTC (``cuda.bindings.nvrtc``, installed with torch's CUDA build) needs no GPU. The options are
``_source.nvrtc_options``: the launcher's ``compile_options()`` plus what CuPy appends; every
template instantiation the launcher asks CuPy for is added as a name expression.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

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

if importlib.util.find_spec("cuda.bindings") is None:
    pytest.skip("cuda-bindings (NVRTC) not installed", allow_module_level=True)

ARCHS = ("sm_80", "sm_90")
MODULES = [(LIF_SOURCE, lif_name_expressions(dtype)) for dtype in DTYPES]
MODULES.append((FRAMES_SOURCE, (FRAMES_KERNEL,)))


def compile_program(source: str, names, options) -> dict:
    """NVRTC result (``ok``, ``log``, ``lowered`` names, ``cubin`` size or ``ptx`` text),
    compiled in a child process (see ``nvrtc_worker``)."""
    request = {
        "text": read_source(source),
        "filename": source,
        "names": list(names),
        "options": list(options),
    }
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("nvrtc_worker.py"))],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    if "lowered" in result:
        result["lowered"] = {k: v.encode("latin-1") for k, v in result["lowered"].items()}
    return result


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
