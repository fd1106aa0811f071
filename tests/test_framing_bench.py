"""scripts/bench_framing.py runs, writes its JSON, and both sides' outputs agree."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_framing.py"


def test_quick_benchmark_json(tmp_path):
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(out.read_text())
    assert result["quick"] is True and result["all_agree"] is True
    # --quick runs the sizes of real recordings, with fewer rounds
    cases = [(r["case"], r["events"], r["width"], r["height"]) for r in result["framing"]]
    assert cases == [
        ("N-MNIST-like", 4_325, 34, 34),
        ("N-Caltech101-like", 200_000, 240, 180),
        ("CIFAR10-DVS-like", 300_000, 128, 128),
    ]
    for row in [*result["framing"], result["denoise"]]:
        assert row["agree"] is True
        assert row["ours_s"] > 0 and row["tonic_s"] > 0
        # timed in turns: every round of both sides lasted long enough to time
        assert min(row["round_s"]) >= 0.001
        assert abs(row["ratio"] - row["tonic_s"] / row["ours_s"]) < 1e-9
    assert run.stdout.count("framing ") == 3 and "denoise 2k ev 240x180: ours" in run.stdout
    assert "framing N-MNIST-like 4.325k ev 34x34: ours" in run.stdout


def test_too_short_a_round_prints_no_ratio(monkeypatch):
    sys.path.insert(0, str(SCRIPT.parent))
    import bench_framing
    import turns

    monkeypatch.setattr(turns, "MIN_ROUND_S", 10.0)
    row = bench_framing.compare(lambda: None, lambda: None, rounds=1)
    assert row["ratio"] is None
    row.update(case="x", events=10, width=2, height=2, ours_mev_s=1.0, tonic_mev_s=1.0)
    line = bench_framing.line("framing", row)
    assert line.endswith("no ratio: a round was too short to time") and "x" in line
