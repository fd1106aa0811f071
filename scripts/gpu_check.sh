#!/usr/bin/env bash
# GPU check of the fused kernels (snn_transfer.kernels): the `cuda` tests, the kernel
# benchmark against SpikingJelly 2.0 and a torch loop, then the training iteration's CUDA
# variants (scripts/bench_training.py, the measured side of scripts/estimate_gpu.py). Sized to
# finish in under 13 minutes on one GPU; exits 0 without doing anything where torch sees no GPU.
#
# Needs torch and CuPy. SpikingJelly and loguru are installed from the wheels in .whl/
# (scripts/fetch_gpu_wheels.sh) into /tmp/site when .whl/ is there, so the machine needs no
# network. The package is installed editable (--no-deps, --no-index) or, where that fails, made
# importable through a folder of links (snn_transfer.kernels lives in kernels/, mapped by
# setuptools' package-dir, so the repository root alone on sys.path does not import it).
# Logs and the benchmark's JSON go to $OUT (default runs/gpu_check).
#
#     bash scripts/gpu_check.sh                      # PYTHON=python3 by default
#     SNN_GPU_CHECK_SHIM=1 bash scripts/gpu_check.sh # skip the editable install
#     SNN_GPU_CHECK_FORCE=1 ...                      # run the setup on a CPU machine (tests skip)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3}
OUT=${OUT:-$ROOT/runs/gpu_check}
export PYTHONUNBUFFERED=1
start=$(date +%s)
elapsed() { echo "$(($(date +%s) - start)) s"; }

if ! "$PY" -c "import torch" 2>/dev/null; then
    echo "gpu_check: $PY cannot import torch; set PYTHON to an interpreter with torch" >&2
    exit 1
fi
if [ "${SNN_GPU_CHECK_FORCE:-0}" != 1 ] &&
    ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_check: no CUDA GPU visible to torch: nothing to check"
    exit 0
fi

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# 1. SpikingJelly and loguru from carried wheels (the GPU machine has no network)
if compgen -G ".whl/*.whl" >/dev/null; then
    SITE=${SNN_GPU_CHECK_SITE:-/tmp/site}
    if ! "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$SITE" .whl/*.whl; then
        echo "gpu_check: installing the wheels of .whl/ failed" >&2
        exit 1
    fi
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi

# 2. snn_transfer importable, checked and run from a folder outside the repository (from its
#    root, the repository's own snn_transfer/ would shadow the links below)
WORK=$(mktemp -d)
importable() { (cd "$WORK" && "$PY" -c "import snn_transfer.kernels, snn_transfer.events") 2>/dev/null; }
if [ "${SNN_GPU_CHECK_SHIM:-0}" != 1 ] && ! importable; then
    "$PY" -m pip install -q --no-deps --no-index --no-build-isolation -e "$ROOT" \
        >"$OUT/editable_install.log" 2>&1 || echo "gpu_check: editable install failed (see editable_install.log)"
fi
if [ "${SNN_GPU_CHECK_SHIM:-0}" = 1 ] || ! importable; then
    SHIM="$WORK/shim/snn_transfer"
    mkdir -p "$SHIM"
    for entry in "$ROOT"/snn_transfer/*; do ln -s "$entry" "$SHIM/"; done
    ln -s "$ROOT/events" "$SHIM/events"
    ln -s "$ROOT/kernels" "$SHIM/kernels"
    export PYTHONPATH="$WORK/shim${PYTHONPATH:+:$PYTHONPATH}"
    echo "gpu_check: snn_transfer imported through links in $WORK/shim"
fi
if ! importable; then
    (cd "$WORK" && "$PY" -c "import snn_transfer.kernels") >&2
    echo "gpu_check: snn_transfer.kernels still does not import" >&2
    exit 1
fi

{
    nvidia-smi -L 2>/dev/null || true
    (cd "$WORK" && "$PY" - <<'EOF'
import importlib.metadata as md, sys, torch, snn_transfer.kernels as k
from snn_transfer.kernels._source import compile_options
def version(name):
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return "missing"
print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda)
print("cupy", version("cupy-cuda13x"), version("cupy-cuda12x"), "spikingjelly",
      version("spikingjelly"), "loguru", version("loguru"))
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
print("gpu", gpu, "kernels from", k.__file__)
print("nvrtc options", compile_options())
EOF
    )
} 2>&1 | tee "$OUT/env.txt"
echo "gpu_check: set up in $(elapsed)"

# 3. the cuda tests, then the benchmark, both run from outside the repository
cd "$WORK"
timeout 150 "$PY" -m pytest -m cuda "$ROOT/tests/test_kernels_cuda.py" -q -rs \
    -p no:cacheprovider 2>&1 | tee "$OUT/pytest.log"
tests=${PIPESTATUS[0]}
if [ "$tests" = 5 ] && [ "${SNN_GPU_CHECK_FORCE:-0}" = 1 ]; then
    tests=0 # forced on a machine without a GPU: the cuda tests skip, nothing ran
fi
echo "gpu_check: tests exit $tests after $(elapsed)"
timeout 170 "$PY" "$ROOT/scripts/bench_kernels.py" --json "$OUT/bench.json" 2>&1 \
    | tee "$OUT/bench.log"
bench=${PIPESTATUS[0]}
echo "gpu_check: benchmark exit $bench after $(elapsed)"
# 4. one transfer iteration at the reference's math, batch 60 (half the recipe's; every
#    variant lives at once in its own process): SpikingJelly's LIFNode vs our fused LIF,
#    bf16, compiled, and the compact path; figures to set beside scripts/estimate_gpu.py's
timeout 420 "$PY" "$ROOT/scripts/bench_training.py" --math reference --batches 60 --repeats 5 \
    --variants cuda-eager-sj,cuda-eager,cuda-eager-bf16,cuda-compact,cuda-compiled-bf16 \
    --json "$OUT/training.json" 2>&1 | tee "$OUT/training.log"
training=${PIPESTATUS[0]}
echo "gpu_check: training benchmark exit $training after $(elapsed)"
grep -h "passed\|failed\|skipped\|no CUDA\|^goal\|vs previous" "$OUT/pytest.log" "$OUT/bench.log" \
    "$OUT/training.log" >"$OUT/summary.txt" || true
rm -rf "$WORK"
[ "$tests" = 0 ] && [ "$bench" = 0 ] && [ "$training" = 0 ]
