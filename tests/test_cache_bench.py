"""scripts/bench_cache.py runs, writes its JSON, and both caches hold the same frames."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_cache.py"


def test_quick_cache_benchmark_json(tmp_path):
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--samples", "32", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(out.read_text())
    assert result["quick"] is True and result["epochs"] == 2
    rows = result["rows"]
    assert {(r["workers"], r["ours"], r["peer"]) for r in rows} == {
        (w, mine, peer)
        for w in (0, 2)
        for mine, peer in (("ours", "tonic"), ("ours", "tonic-uncompressed"), ("ours-lzf", "tonic"))
    }
    for row in rows:
        assert row["samples"] == 32 and row["shape"] == [10, 2, 48, 48]
        assert row["ours_samples_per_s"] > 0 and row["peer_samples_per_s"] > 0
        assert abs(row["ratio"] - row["ours_samples_per_s"] / row["peer_samples_per_s"]) < 1e-9
        # uncompressed float32: at least the raw frame bytes
        if row["ours"] == "ours":
            assert row["ours_bytes"] >= 32 * 10 * 2 * 48 * 48 * 4
    assert run.stdout.count("cache 32 samples 10x2x48x48 workers=") == 6
    assert "samples/s, tonic" in run.stdout and "x; size ours" in run.stdout
