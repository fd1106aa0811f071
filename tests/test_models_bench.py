"""scripts/bench_models.py runs and writes the promised JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_models.py"


def test_quick_benchmark_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--threads", "1", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "tiny T=2 B=2 34x34 fwd+bwd (median of 2): eager" in done.stdout
    assert "VmHWM" in done.stdout or "ru_maxrss" in done.stdout
    result = json.loads(out.read_text())
    assert (result["model"], result["steps"], result["batch"], result["size"]) == ("tiny", 2, 2, 34)
    eager = result["eager"]
    assert eager["parameters"] == 44_052
    assert eager["threads"] == 1
    assert len(eager["times_s"]) == 2 and all(t > 0 for t in eager["times_s"])
    assert eager["median_s"] == pytest.approx(sum(eager["times_s"]) / 2)
    assert eager["peak_rss_bytes"] >= eager["rss_before_bytes"] > 0
    assert result["compiled"] is None and result["speedup"] is None
