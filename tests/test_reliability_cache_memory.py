"""The frame-cache builder's memory does not grow with the number of samples.

Each build runs in a fresh child process over tiny synthetic samples and reports the growth
of its peak resident memory (``ru_maxrss``) during ``build_cache``; the source's own labels
and names exist before the build starts and are not counted. Before the fix the merge held
every shard file open at once and the merged file's HDF5 chunk cache kept up to 8191
chunks, about 9.6 KiB per sample; now it is about 0.2 KiB per sample between 2,000 and
8,000 samples, and flat beyond.
"""

from __future__ import annotations

import json
import subprocess
import sys

#: the most the builder may grow per extra sample (bytes); the old builder took ~9,800
PER_SAMPLE_BOUND = 1024

CHILD = """
import json, resource, sys, tempfile
from pathlib import Path
import numpy as np
from snn_transfer.events.cache import CacheSpec, FrameCache
from snn_transfer.events.cache_build import build_cache
from snn_transfer.events.recorded.files import Sample

class Tiny:
    def __init__(self, n):
        self.labels = np.arange(n, dtype=np.int64) % 4
        self.names = [f"c{i % 4}/r{i:06d}.bin" for i in range(n)]
        self.frame = np.ones((2, 2, 4, 4), np.float32)
    def __len__(self):
        return len(self.names)
    def load(self, i):
        return Sample(self.frame * (i % 7), 10 + i, 100)

n = int(sys.argv[1])
source = Tiny(n)
spec = CacheSpec("synthetic", "train", "tiny", n, "ones")
with tempfile.TemporaryDirectory() as folder:
    out = Path(folder) / "c.h5"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = build_cache(out, source, spec, classes=("a", "b", "c", "d"), progress=False)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cache = FrameCache(out, spec)
    last = float(cache[n - 1][0][0, 0, 0, 0])
    check = [len(cache), int(cache.event_counts[-1]), cache.names[-1], last]
print(json.dumps({"growth_kib": after - before, "samples": report.samples, "check": check}))
"""


def build_growth(n: int) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(n)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_builder_memory_does_not_grow_with_the_number_of_samples():
    small, large = build_growth(2_000), build_growth(8_000)
    assert small["samples"] == 2_000 and large["samples"] == 8_000
    assert large["check"] == [8_000, 10 + 7_999, "c3/r007999.bin", float(7_999 % 7)]
    per_sample = (large["growth_kib"] - small["growth_kib"]) * 1024 / 6_000
    print(
        f"builder peak RSS growth: {small['growth_kib']} KiB for 2,000 samples, "
        f"{large['growth_kib']} KiB for 8,000 ({per_sample:.0f} bytes per extra sample)"
    )
    assert per_sample < PER_SAMPLE_BOUND, (small, large)
