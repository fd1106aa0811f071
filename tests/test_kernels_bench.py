"""scripts/bench_kernels.py runs end to end on the CPU (a plumbing check; GPU numbers come from
scripts/gpu_check.sh) and writes ratios consistent with its timings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_kernels.py"


def test_quick_cpu_run_writes_rows_and_goal_lines(tmp_path):
    out = tmp_path / "bench.json"
    command = [sys.executable, str(SCRIPT), "--device", "cpu", "--quick", "--steps", "10"]
    command += ["--budget", "0.01", "--json", str(out)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(out.read_text())
    assert result["quick"] is True and result["device"]["type"] == "cpu"
    cases = {(r["steps"], r["dtype"], r["surrogate"]) for r in result["rows"]}
    names = ("triangle", "rectangle", "atan", "sigmoid")
    assert cases == {(10, d, s) for d in ("float32", "bfloat16") for s in names}
    for row in result["rows"]:
        for kind in ("ours", "ours_v", "sj", "sj_v", "loop"):
            assert row[kind]["ms"] > 0 and row[kind]["repeats"] >= 3
        assert abs(row["vs_loop"] - row["loop"]["ms"] / row["ours"]["ms"]) < 1e-9
        assert abs(row["vs_sj_v"] - row["sj_best_v_ms"] / row["ours_v"]["ms"]) < 1e-9
        low_precision = row["dtype"] == "bfloat16"
        assert ("sj_f32" in row) == ("sj_f32_v" in row) == low_precision
        assert row["sj_best_ms"] <= row["sj"]["ms"] and row["sj_best_v_ms"] <= row["sj_v"]["ms"]
    assert len(result["goal"]) == 8 and all(line.startswith("goal T=10") for line in result["goal"])
    assert run.stdout.count("\nT=10 ") + run.stdout.startswith("T=10 ") == 8  # one row each


def test_without_a_gpu_the_default_run_says_so_and_succeeds():
    run = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0
    assert "no CUDA GPU: nothing to benchmark" in run.stdout
