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
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(out.read_text())
    assert result["quick"] is True and result["all_agree"] is True
    cases = {(r["events"], r["width"], r["height"]) for r in result["framing"]}
    assert cases == {(n, w, h) for n in (10_000, 100_000) for w, h in ((240, 180), (128, 128))}
    for row in [*result["framing"], result["denoise"]]:
        assert row["agree"] is True
        assert row["ours_s"] > 0 and row["tonic_s"] > 0
        assert abs(row["ratio"] - row["tonic_s"] / row["ours_s"]) < 1e-9
    assert run.stdout.count("framing ") == 4 and "denoise 2k ev 240x180: ours" in run.stdout
    assert "ours" in run.stdout and "Mev/s, tonic" in run.stdout
