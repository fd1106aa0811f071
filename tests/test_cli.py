"""The snn-transfer command line: recipes, train and resume, errors, the demo."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import REPO

from snn_transfer.errors import ConfigError
from snn_transfer.recipes import base_names, resolve


def cli(*args, cwd, env=None, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "snn_transfer", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
    )


def test_recipe_modifiers_compose():
    assert {"demo", "ncaltech101", "cepdvs", "nomniglot"} <= set(base_names())
    config = resolve("ncaltech101-parity-events-10-no-v-baseline").config(["epochs=2"])
    assert config.mode == "baseline" and config.selection == "test" and config.epochs == 2
    options = config.data.options
    assert options["event_fraction"] == 0.1 and options["val_fraction"] == 0.0
    assert options["channel"] == "blue" and options["framing"] == "paper"
    plain = resolve("ncaltech101-no-v").config()
    assert plain.data.options["channel"] == "gray" and plain.selection == "val"
    fixed = resolve("cepdvs-fixed-1.0").config()
    assert fixed.loss.str_mode == "fixed" and fixed.loss.fixed_coefficient == 1.0
    vgg = resolve("ncaltech101").config()
    assert vgg.model.name == "vggsnn" and vgg.data.batch_size == 120 and vgg.time_steps == 10
    assert vgg.optim.base_lr * 120 / 1024 == pytest.approx(5.86e-4, rel=1e-3)
    omni = resolve("nomniglot").config()
    assert omni.loss.tet is False and omni.loss.str_mode == "none"
    assert omni.model.options["surrogate"] == "rectangle" and omni.optim.schedule == "step"
    with pytest.raises(ConfigError, match="unknown modifier at 'turbo'"):
        resolve("demo-turbo")
    with pytest.raises(ConfigError, match="unknown recipe 'imagenet'"):
        resolve("imagenet")


def test_recipes_command_lists_bases_and_modifiers(tmp_path):
    result = cli("recipes", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ncaltech101" in result.stdout and "events-P" in result.stdout


def test_train_resume_and_refusals(tmp_path):
    sets = [
        "--set", "epochs=2", "--set", "data.options.per_class=10",
        "--set", f"data.options.cache_dir={tmp_path / 'cache'}", "--set", "data.batch_size=8",
        "--set", "data.options.event_fraction=1.0",
    ]  # fmt: skip
    out = tmp_path / "run"
    first = cli(
        "train", "--recipe", "demo", *sets, "--out", str(out), "--no-progress", cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    assert "selected epoch" in first.stdout and (out / "best.pt").exists()
    again = cli("train", "--recipe", "demo", *sets, "--out", str(out), cwd=tmp_path)
    assert again.returncode == 1 and "already holds a run" in again.stderr
    resumed = cli("train", "--resume", str(out), "--no-progress", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "selected epoch" in resumed.stdout
    evaluated = cli("eval", str(out), "--split", "test", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    assert (out / "eval-test.json").exists() and (out / "confusion-test.png").exists()
    from snn_transfer.events.datasets import load_dataset
    from snn_transfer.events.io import write_events

    data = load_dataset("digits", per_class=10, time_steps=4, cache_dir=tmp_path / "cache")
    events, label = data.test.events[int(data.test.indices[0])]
    sample = write_events(tmp_path / "sample.h5", events, "hdf5", sensor_size=(34, 34, 2))
    predicted = cli("predict", str(out), str(sample), cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    assert "sample.h5" in predicted.stdout
    exported = cli("export", str(out), "--out", str(tmp_path / "model.nir"), cwd=tmp_path)
    assert exported.returncode in (0, 1), exported.stderr
    if exported.returncode == 1:  # nir not installed: the message says how to get it
        assert "pip install" in exported.stderr
    compared = cli("compare", str(out), "--plot", str(tmp_path / "c.png"), cwd=tmp_path)
    assert compared.returncode == 0, compared.stderr
    assert (tmp_path / "c.png").exists()
    bad_key = cli("train", "--recipe", "demo", "--set", "optim.lrr=1", cwd=tmp_path)
    assert bad_key.returncode == 1 and "unknown config key optim.lrr" in bad_key.stderr
    assert "Traceback" not in bad_key.stderr


def test_unwritable_run_directory_fails_early(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = cli("train", "--recipe", "demo", "--out", str(blocker / "run"), cwd=tmp_path)
    assert result.returncode == 1 and "cannot write to the run directory" in result.stderr


def test_real_dataset_recipe_without_data_says_what_is_missing(tmp_path):
    result = cli("train", "--recipe", "ncaltech101", "--out", str(tmp_path / "r"), cwd=tmp_path)
    assert result.returncode == 1
    assert "ncaltech101" in result.stderr.lower() and "Traceback" not in result.stderr


def test_demo_quick(tmp_path):
    result = cli(
        "demo", "--quick", "--out", str(tmp_path / "demo"), "--no-progress",
        cwd=REPO, env={"SNN_TRANSFER_CACHE": str(tmp_path / "cache")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # a smoke run says so and compares nothing
    assert "smoke run (--quick)" in result.stdout and "default - events-only" not in result.stdout
    report = (tmp_path / "demo" / "report.md").read_text()
    for arm in ("events-only", "pretrain-finetune", "default"):
        assert f"| {arm} | " in report
        assert (tmp_path / "demo" / f"{arm}-seed0" / "result.json").exists()
    assert "not results" in report
    for name in ("curves.png", "samples.png"):
        assert (tmp_path / "demo" / name).stat().st_size > 1000


def test_demo_comparison_is_paired_over_the_seeds_it_ran():
    from snn_transfer.demo import comparison

    runs = [
        {"arm": arm, "seed": seed, "test_acc": acc}
        for seed, accs in enumerate([(0.70, 0.75, 0.80), (0.72, 0.76, 0.83), (0.71, 0.78, 0.81)])
        for arm, acc in zip(("events-only", "pretrain-finetune", "default"), accs, strict=True)
    ]
    table, lines = comparison(runs)
    assert table[2] == "| events-only | 70.0 | 72.0 | 71.0 | 71.0 |"
    assert lines[0].startswith("default - events-only: +10.3 points [")
    assert "over the 3 seeds 0, 1, 2, paired per seed" in lines[0]
    # a seed missing on one side leaves it out of the pairs
    lines = comparison(
        [r for r in runs if not (r["arm"] == "pretrain-finetune" and r["seed"] == 2)]
    )[1]
    assert "over the 2 seeds 0, 1" in lines[1]
