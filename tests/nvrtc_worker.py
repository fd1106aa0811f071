"""Compile CUDA source with NVRTC in a separate process.

Loading NVRTC into the test process interposes symbols that break ``torch.load`` of zip
archives afterwards (checkpoints then fail with "record size ... does not match"), so the
tests compile here and read the result as JSON: ``python nvrtc_worker.py < request.json``.
"""

from __future__ import annotations

import json
import sys


def compile_program(text: str, filename: str, names, options) -> dict:
    from cuda.bindings import nvrtc

    def check(result) -> None:
        assert result[0] == nvrtc.nvrtcResult.NVRTC_SUCCESS, result

    err, program = nvrtc.nvrtcCreateProgram(text.encode(), filename.encode(), 0, [], [])
    check((err,))
    try:
        for name in names:
            check(nvrtc.nvrtcAddNameExpression(program, name.encode()))
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
            name: nvrtc.nvrtcGetLoweredName(program, name.encode())[1].decode("latin-1")
            for name in names
        }
        if any(option.startswith("-arch=sm_") for option in options):
            result["cubin"] = nvrtc.nvrtcGetCUBINSize(program)[1]
        else:
            err, size = nvrtc.nvrtcGetPTXSize(program)
            ptx = b" " * size
            nvrtc.nvrtcGetPTX(program, ptx)
            result["ptx"] = ptx.decode(errors="replace")
        return result
    finally:
        nvrtc.nvrtcDestroyProgram(program)


if __name__ == "__main__":
    request = json.load(sys.stdin)
    json.dump(compile_program(**request), sys.stdout)
