#!/usr/bin/env bash
# Fetches the real event recordings that the tests read: the sample files shipped in the
# source distribution of tonic 1.6.0 on PyPI (N-MNIST .bin, DV .aedat4, a DAVIS346 AEDAT 2.0
# header, N-CARS Prophesee .dat, ST-MNIST .mat).
# They land in .samples/tonic/ (ignored by git); tests skip with a reason when they are absent.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.samples/tonic
if [ -f "$dest/sample_nmnist.bin" ]; then
    echo "samples already in $dest"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python -m pip download --quiet --no-deps --no-binary :all: tonic==1.6.0 -d "$tmp"
tar -xzf "$tmp"/tonic-1.6.0.tar.gz -C "$tmp" tonic-1.6.0/test/test_data
mkdir -p "$dest.partial"
cp "$tmp"/tonic-1.6.0/test/test_data/* "$dest.partial/"
rm -rf "$dest"
mv "$dest.partial" "$dest"
echo "samples in $dest: $(ls "$dest" | tr '\n' ' ')"
