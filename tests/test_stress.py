"""The preprocessing stress script, in its quick size (200 files)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "stress_preprocess.py"


def test_quick_stress_run_reports_time_and_peak_memory(tmp_path):
    report_file = tmp_path / "stress.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(report_file)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(report_file.read_text())
    assert report["files"] == 200 and report["caches"] == ["cache-test.h5", "cache-train.h5"]
    assert report["preprocess_seconds"] > 0 and 0 < report["peak_rss_mib"] < 4096
    assert report["cache_mib"] > 0
    assert "preprocess_seconds:" in done.stdout
    # 210 MiB + two shards of 64 x 10 x 2 x 34 x 34 float32 frames + 200 x 1 KiB
    assert report["peak_rss_bound_mib"] == 221.5
    assert report["within_bound"] and report["peak_rss_mib"] <= 221.5
    assert "memory bound: peak RSS <= 210 MiB" in done.stdout and "within the bound" in done.stdout
