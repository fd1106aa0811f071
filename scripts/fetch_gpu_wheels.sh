#!/usr/bin/env bash
# Downloads the wheels scripts/gpu_check.sh installs on a GPU machine without network access
# into .whl/ (ignored by git): SpikingJelly 2.0.0 (the peer of the kernel benchmark and tests)
# and loguru, its one import-time dependency beyond torch and numpy. Both are pure Python.
#
#     bash scripts/fetch_gpu_wheels.sh            # for the GPU machine's Python 3.12
#     PYTHON_VERSION=3.11 bash scripts/fetch_gpu_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
PYTHON_VERSION=${PYTHON_VERSION:-3.12}
WHEELS=("spikingjelly==2.0.0" "loguru==0.7.3")

mkdir -p .whl
for wheel in "${WHEELS[@]}"; do
    "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: \
        --python-version "$PYTHON_VERSION" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform any \
        -d .whl "$wheel"
done
ls -l .whl
