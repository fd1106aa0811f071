"""scripts/bench_preprocess.py writes real-format trees, runs both pipelines on them, checks
their frames agree and reports files per second at 1 and 2 workers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_preprocess.py"


def test_quick_benchmark_json(tmp_path):
    pytest.importorskip("tonic")
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out), "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(out.read_text())
    assert result["quick"] is True and result["all_agree"] is True
    trees = {t["dataset"]: t for t in result["trees"]}
    assert set(trees) == {"n-mnist", "n-caltech101"}
    nmnist, caltech = trees["n-mnist"], trees["n-caltech101"]
    # both sides frame every file of the tree; N-Caltech101 needs a file in each class
    assert nmnist["files"] == 500 and caltech["files"] == 101
    assert 4_000 < nmnist["events_per_file"] < 4_700 and nmnist["sensor"] == [34, 34, 2]
    assert 150_000 < caltech["events_per_file"] < 250_000 and caltech["sensor"] == [240, 180, 2]
    for tree in trees.values():
        assert tree["agree"] is True and len(tree["checked"]) == 3
        assert [(r["workers"], r["dtype"]) for r in tree["rows"]] == [
            (1, "float32"),
            (1, "uint16"),
            (2, "float32"),
            (2, "uint16"),
        ]
        assert tree["ours_uint16_cache_bytes"] < 0.6 * tree["ours_cache_bytes"]
        for row in tree["rows"]:
            assert row["ours_files_per_s"] > 0 and row["tonic_files_per_s"] > 0
            if row["ratio"] is not None:  # only for runs long enough to time
                assert min(row["ours_s"], row["tonic_s"]) >= result["min_timed_s"]
                assert row["ratio"] == pytest.approx(row["tonic_s"] / row["ours_s"])
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("preprocess ")]
    assert len(lines) == 8 and "n-mnist 500 files" in lines[0] and "workers=1" in lines[0]
    assert "ours float32" in lines[0] and "ours uint16" in lines[1]
    assert not list(tmp_path.glob("bench-preprocess-*"))  # the trees are removed
