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
    assert "on dataset 'digits' with model 'tiny', 12 epochs" in first.stdout
    # the digits were emulated and cached in this run: --no-progress silenced those bars too
    assert "%|" not in first.stderr and "it/s" not in first.stderr, first.stderr
    again = cli("train", "--recipe", "demo", *sets, "--out", str(out), cwd=tmp_path)
    assert again.returncode == 1 and "already holds a run" in again.stderr
    resumed = cli("train", "--resume", str(out), "--no-progress", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "selected epoch" in resumed.stdout
    # --set with --resume: the keys that may change apply, the others are refused by name
    longer = cli("train", "--resume", str(out), "--set", "epochs=3", "--no-progress", cwd=tmp_path)
    assert longer.returncode == 0, longer.stderr
    assert "resuming" in longer.stdout and "epochs=3" in longer.stdout
    assert len((out / "metrics.csv").read_text().splitlines()) == 1 + 13
    assert "epochs: 3" in (out / "config.yaml").read_text()
    refused = cli("train", "--resume", str(out), "--set", "loss.alpha=0.1", cwd=tmp_path)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "loss.alpha cannot change when a run is resumed" in refused.stderr
    assert "keys that may: epochs, " in refused.stderr
    shorter = cli("train", "--resume", str(out), "--set", "epochs=1", cwd=tmp_path)
    assert shorter.returncode == 1 and "has trained 13 epochs already" in shorter.stderr
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
    # one file per problem: each is reported and the others are still predicted
    wide = events.copy()
    wide["x"] = wide["x"].astype(int) * 3
    other = write_events(tmp_path / "wide.h5", wide, "hdf5", sensor_size=(102, 34, 2))
    broken = tmp_path / "broken.bin"
    broken.write_bytes(b"\x00\x01\x02")
    several = cli("predict", str(out), str(other), str(broken), str(sample), cwd=tmp_path)
    assert several.returncode == 1 and "2 of 3 files failed" in several.stderr
    lines = several.stdout.splitlines()
    assert lines[0].startswith(str(other)) and "outside the sensor" in lines[0]
    assert "pass --sensor W H" in lines[0]
    assert lines[1].startswith(str(broken)) and "error: " in lines[1]
    assert lines[2].startswith(str(sample)) and "%" in lines[2] and "error" not in lines[2]
    sensor = cli("predict", str(out), str(other), "--sensor", "102", "34", cwd=tmp_path)
    assert sensor.returncode == 0, sensor.stderr
    assert "error" not in sensor.stdout and sensor.stdout.strip().endswith("%")
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


def test_print_config_prints_the_resolved_config_and_creates_nothing(tmp_path):
    import yaml

    out = tmp_path / "never"
    result = cli(
        "train", "--recipe", "demo", "--set", "epochs=3", "--set", "data.batch_size=8",
        "--print-config", "--out", str(out), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert config["epochs"] == 3 and config["data"]["batch_size"] == 8
    assert config["model"]["name"] == "tiny" and config["optim"]["warmup_epochs"] == 2
    assert not out.exists() and not (tmp_path / "runs").exists()


def test_a_failing_config_leaves_no_folder_and_the_header_names_its_dataset(tmp_path):
    out = tmp_path / "run"
    result = cli(
        "train", "--recipe", "demo", "--set", "data.dataset=folder",
        "--set", f"data.options.root={tmp_path / 'missing'}", "--out", str(out), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1 and "dataset 'folder' has no option" in result.stderr
    assert "on dataset 'folder'" in result.stdout and "digits" not in result.stdout
    assert not out.exists()


def test_a_short_run_shortens_the_warm_up_with_a_note(tmp_path):
    result = cli("train", "--recipe", "demo", "--set", "epochs=1", "--set", "pretrain_epochs=0",
                 "--print-config", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "snn-transfer train: note: optim.warmup_epochs = 2 is not shorter" in result.stderr
    assert "warmup_epochs: 0" in result.stdout


def test_models_command_lists_models_and_their_options(tmp_path):
    result = cli("models", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()[1:-1]]
    assert names == ["resnet18", "scnn", "tiny", "vggsnn"]
    assert "bn_mode='shared' bn=True" in result.stdout and "tau=2.0" in result.stdout


def test_the_folder_recipe_trains_on_a_folder_of_recordings_and_images(tmp_path):
    import numpy as np
    from test_recorded_fakes import write_folder_dataset, write_png

    rng = np.random.default_rng(0)
    root = write_folder_dataset(tmp_path / "recordings", rng, per_class=6)
    for cls in ("a", "b"):
        for k in range(4):
            write_png(tmp_path / "images" / cls / f"img{k}.png", rng, shape=(20, 20, 3))
    config = resolve("folder").config()
    assert config.data.dataset == "folder" and config.mode == "transfer"
    result = cli(
        "train", "--recipe", "folder", "--set", f"data.options.root={root}",
        "--set", f"data.options.static_root={tmp_path / 'images'}",
        "--set", f"data.options.cache_dir={tmp_path / 'cache'}", "--set", "data.options.size=34",
        "--set", "model.name=tiny", "--set", "time_steps=2", "--set", "epochs=1",
        "--set", "pretrain_epochs=0", "--set", "data.batch_size=4", "--set", "data.workers=0",
        "--no-progress", "--out", str(tmp_path / "run"), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "on dataset 'folder' with model 'tiny'" in result.stdout
    assert (tmp_path / "run" / "best.pt").exists()


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
