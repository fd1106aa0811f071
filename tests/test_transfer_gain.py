"""scripts/transfer_gain.py: the sweep runs end to end (--quick, fake Fashion-MNIST IDX files)
and its table is computed from the runs it trained."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from idx_files import write_idx_pair

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "transfer_gain.py"


def _module():
    spec = importlib.util.spec_from_file_location("transfer_gain", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_fashion(folder: Path) -> Path:
    """400 28x28 images, 10 classes, each class a bright bar at its own height."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 40).astype(np.uint8)
    images = rng.integers(0, 30, (400, 28, 28)).astype(np.uint8)
    for i, c in enumerate(labels):
        images[i, 2 + 2 * c : 6 + 2 * c, 4:24] = 230
    return write_idx_pair(folder, "train", images, labels)


def test_plan_covers_the_table_and_the_ablations():
    tg = _module()
    runs = tg.plan(quick=False, ablations=True)
    names = [r["name"] for r in runs]
    assert len(names) == len(set(names)) == 3 * 3 * 3 + 4 * 3  # + STR off at every fraction
    cells = {(r["group"], r["fraction"]) for r in runs}
    assert {("baseline", f) for f in (0.1, 0.3, 1.0)} <= cells
    assert {(k, 0.1) for k in tg.ABLATIONS} <= cells
    # every ablation is the method with its overrides, on the scarce split
    assert all("mode=transfer" in r["overrides"] for r in runs if r["group"] in tg.ABLATIONS)


def test_summary_is_mean_and_sample_std_over_seeds():
    tg = _module()
    rows = [
        {"group": "baseline", "fraction": 0.1, "seed": s, "test_acc": a, "labelled": 5, "static": 0}
        for s, a in enumerate((0.5, 0.6, 0.7))
    ]
    cell = tg.summarise(rows)[("baseline", 0.1)]
    assert cell["mean"] == pytest.approx(60.0)
    assert cell["std"] == pytest.approx(10.0)
    assert cell["per_seed"] == [50.0, 60.0, 70.0]


def test_quick_sweep_on_fake_fashion_mnist(tmp_path):
    root = _fake_fashion(tmp_path / "idx")
    out = tmp_path / "out"
    env_cache = {"SNN_TRANSFER_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--root", str(root), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**__import__("os").environ, **env_cache},
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "transfer_gain_quick.json").read_text())
    runs = result["runs"]
    assert len(runs) == 2 * 2 * 2 + 5 + 1  # + STR off at 100 %
    for row in runs:
        assert 0.0 <= row["test_acc"] <= 1.0 and 1 <= row["best_epoch"] <= 3
    # 600/1600 of 40 images per class are emulated, 60 % of those train: 9 per class
    labelled = {r["fraction"]: r["labelled"] for r in runs}
    assert labelled == {0.3: 30, 1.0: 90}
    assert {r["static"] for r in runs if r["group"] == "baseline"} == {0}
    assert {r["static"] for r in runs if r["group"] == "transfer"} == {250}
    # the table holds the mean of the runs it trained
    base = [r["test_acc"] * 100 for r in runs if r["group"] == "baseline" and r["fraction"] == 1.0]
    mean = sum(base) / 2
    std = math.sqrt(sum((b - mean) ** 2 for b in base))
    text = (out / "transfer_gain_quick.md").read_text()
    assert f"| 100 % | 90 | {mean:.2f} ± {std:.2f} |" in text
    assert "V channel off" in text and (out / "transfer_gain.png").stat().st_size > 1000

    # an interrupted sweep can be reported from its finished run folders alone
    (out / "transfer_gain_quick.md").unlink()
    again = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--report-only", "--root", str(root)]
        + ["--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert (
        f"| 100 % | 90 | {mean:.2f} ± {std:.2f} |" in (out / "transfer_gain_quick.md").read_text()
    )
