"""Comparing runs: rows from the run files, groups over seeds with numpy's mean and std."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from snn_transfer.compare import compare_runs, find_runs, format_table, plot_curves, read_run
from snn_transfer.errors import ConfigError
from snn_transfer.run_config import TransferConfig
from snn_transfer.trainer import Trainer

torch.set_num_threads(1)
MODES = ("baseline", "transfer")
SEEDS = (0, 1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Four tiny real runs, 2 modes x 2 seeds, in one folder."""
    root = tmp_path_factory.mktemp("compare")
    cache = tmp_path_factory.getbasetemp() / "digits-cache"  # shared with test_evaluate
    for mode in MODES:
        for seed in SEEDS:
            config = TransferConfig.from_dict(
                {
                    "mode": mode,
                    "seed": seed,
                    "epochs": 2,
                    "time_steps": 4,
                    "model": {"options": {"bn": False}},
                    "data": {
                        "options": {
                            "per_class": 20,
                            "cache_dir": str(cache),
                            "progress": False,
                        },
                        "batch_size": 16,
                    },
                    "optim": {"warmup_epochs": 0, "base_lr": 0.05},
                }
            )
            Trainer(config, root / "runs" / f"{mode}-{seed}", progress=False, quiet=True).fit()
    return root / "runs"


def result(run_dir):
    return json.loads((run_dir / "result.json").read_text())


def test_rows_come_from_the_run_files(runs):
    table = compare_runs([runs])
    assert [r["run"] for r in table["runs"]] == [f"{m}-{s}" for m in MODES for s in SEEDS]
    for row in table["runs"]:
        expected = result(runs / row["run"])
        assert row["mode"] == row["run"].split("-")[0] and row["dataset"] == "digits"
        assert row["seed"] == int(row["run"].split("-")[1]) and row["selection"] == "val"
        assert row["event_fraction"] == row["static_fraction"] == 1.0
        assert row["best_epoch"] == expected["best_epoch"]
        assert (row["val_acc"], row["test_acc"]) == (expected["val_acc"], expected["test_acc"])
        assert row["finished"] and row["epochs_done"] == 2


def test_groups_over_seeds_have_numpys_mean_and_std(runs):
    table = compare_runs(sorted(runs.iterdir()))
    assert [g["group"] for g in table["groups"]] == ["mode=baseline", "mode=transfer"]
    for group, mode in zip(table["groups"], MODES, strict=True):
        members = [result(runs / f"{mode}-{s}") for s in SEEDS]
        assert group["n"] == 2 and group["seeds"] == list(SEEDS) and group["mode"] == mode
        for key in ("val_acc", "test_acc"):
            values = np.array([m[key] for m in members])
            assert group[key] == pytest.approx(np.mean(values))
            assert group[f"{key}_std"] == pytest.approx(np.std(values, ddof=1))
        assert group["best_epoch"] == pytest.approx(np.mean([m["best_epoch"] for m in members]))
    # the seeds do differ somewhere, so the test above checks a real spread
    assert any(g[f"{k}_std"] > 0 for g in table["groups"] for k in ("val_acc", "test_acc"))


def test_a_single_run_has_no_std_and_the_table_shows_mean_and_std(runs):
    table = compare_runs([runs / "baseline-0", runs / "baseline-1", runs / "transfer-0"])
    groups = {g["group"]: g for g in table["groups"]}
    assert groups["mode=transfer"]["n"] == 1 and groups["mode=transfer"]["test_acc_std"] is None
    text = format_table(table)
    g = groups["mode=baseline"]
    assert f"{100 * g['test_acc']:.2f} ± {100 * g['test_acc_std']:.2f}" in text
    lines = text.splitlines()
    header = lines[1]
    assert header.split() == ["run", "mode", "dataset", "event_fraction", "static_fraction"] + [
        "seed",
        "selection",
        "best_epoch",
        "val_acc",
        "test_acc",
    ]
    # aligned: every row of the run table is as wide as its dashed rule or narrower
    assert all(len(line) <= len(lines[2]) for line in lines[3:6])
    markdown = format_table(table, markdown=True)
    assert "| mode=baseline | baseline | digits |" in markdown and "|---|" in markdown


def test_an_interrupted_run_selects_from_metrics_csv(runs, tmp_path):
    copy = tmp_path / "interrupted"
    shutil.copytree(runs / "transfer-1", copy)
    (copy / "result.json").unlink()
    row, expected = read_run(copy), result(runs / "transfer-1")
    assert not row["finished"]
    assert (row["best_epoch"], row["val_acc"], row["test_acc"]) == (
        expected["best_epoch"],
        expected["val_acc"],
        expected["test_acc"],
    )


def test_curves_png_and_errors(runs, tmp_path):
    out = plot_curves([runs], tmp_path / "plots" / "curves.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ConfigError, match="not a run directory"):
        find_runs([tmp_path / "plots"])
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.yaml").write_text("mode: baseline\n")
    with pytest.raises(ConfigError, match="metrics.csv is missing"):
        compare_runs([tmp_path / "half"])
