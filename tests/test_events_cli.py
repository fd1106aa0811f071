"""The ``snn-events`` entry points, run in a subprocess: help texts, preprocess into the cache
training finds, info on caches and event files, render to PNG and GIF."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_recorded_fakes import events_in, put

from snn_transfer.events.io import EventDatasetWriter


def run(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snn_transfer.events.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize("command", ["info", "emulate", "datasets", "preprocess", "render"])
def test_every_subcommand_has_help_with_an_example(tmp_path, command):
    result = run(command, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"usage: snn-events {command}" in result.stdout and "example" in result.stdout


def test_datasets_lists_every_entry_with_its_layout(tmp_path):
    result = run("datasets", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for name in (
        "n-caltech101",
        "n-mnist",
        "cifar10-dvs",
        "dvs-gesture",
        "n-omniglot",
        "cep-dvs",
        "folder",
    ):
        assert f"\n{name} " in "\n" + result.stdout
    assert "ibmGestureTrain/user<NN>_<lighting>/<label>.npy" in result.stdout
    assert "dvs_background/<alphabet>/<character>/<NNNN>.aedat4" in result.stdout


@pytest.fixture(scope="module")
def gesture_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("gesture")
    rng = np.random.default_rng(21)
    for part, user in (("ibmGestureTrain", "user01_led"), ("ibmGestureTest", "user24_led")):
        for label in range(11):
            put(
                root / part / user / f"{label}.npy",
                events_in(rng, 80, 128, 128, t_unit=1000),
                "gesture-npy",
            )
    return root


def test_preprocess_builds_the_cache_training_finds(tmp_path, gesture_root, monkeypatch):
    cache = tmp_path / "cache"
    result = run(
        "preprocess", "dvs-gesture", "--root", str(gesture_root), "--frames", "3",
        "--size", "32", "--quiet", cwd=tmp_path, env={"SNN_TRANSFER_CACHE": str(cache)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "train: " in result.stdout and "11 samples" in result.stdout
    built = sorted((cache / "frames").glob("dvs-gesture-*.h5"))
    assert len(built) == 2
    import snn_transfer.events.recorded.description as real
    from snn_transfer.events.datasets import load_dataset

    def no_build(*args, **kwargs):
        raise AssertionError("rebuilt a cache that preprocess had built")

    monkeypatch.setenv("SNN_TRANSFER_CACHE", str(cache))
    monkeypatch.setattr("snn_transfer.events.cache_build.merge_shards", no_build)
    data = load_dataset("dvs-gesture", root=gesture_root, time_steps=3, size=32, progress=False)
    assert sorted(data.info["cache"].values()) == [str(p) for p in built]
    assert data.frame_shape == (3, 2, 32, 32) and real.DATA_README == "data/README.md"

    info = run("info", str(built[1]), cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    out = info.stdout
    assert "hdf5 (frames cache)" in out and "samples      11" in out
    assert "sensor_size  [128, 128, 2]" in out and "fingerprint" in out
    assert "histogram    hand_clapping: 1, right_hand_wave: 1" in out


def test_preprocess_errors_are_one_line(tmp_path, gesture_root):
    unknown = run("preprocess", "nope", "--root", ".", cwd=tmp_path)
    assert unknown.returncode == 1 and "unknown dataset 'nope'" in unknown.stderr
    generated = run("preprocess", "digits", "--root", ".", cwd=tmp_path)
    assert generated.returncode == 1 and "no event files to preprocess" in generated.stderr
    sensor = run(
        "preprocess", "dvs-gesture", "--root", str(gesture_root), "--sensor", "9", "9", cwd=tmp_path
    )
    assert (
        sensor.returncode == 1
        and "--sensor does not apply to dataset 'dvs-gesture'" in sensor.stderr
    )
    missing = run("preprocess", "n-mnist", "--root", str(tmp_path), cwd=tmp_path)
    assert missing.returncode == 1 and "data/README.md" in missing.stderr
    assert "Traceback" not in unknown.stderr + sensor.stderr + missing.stderr


def test_render_png_and_gif_and_info_of_event_files(tmp_path, gesture_root):
    from PIL import Image

    rng = np.random.default_rng(22)
    with EventDatasetWriter(tmp_path / "set.h5", (34, 34, 2), ["zero", "one"]) as writer:
        for k in range(3):
            writer.append(events_in(rng, 100, 34, 34), label=k % 2, name=f"s{k}")
    grid = run(
        "render",
        str(tmp_path / "set.h5"),
        "--index",
        "2",
        "--frames",
        "4",
        "--out",
        "g.png",
        cwd=tmp_path,
    )
    assert grid.returncode == 0, grid.stderr
    assert Image.open(tmp_path / "g.png").size == (4 * 34 + 3, 34)
    single = gesture_root / "ibmGestureTest" / "user24_led" / "5.npy"
    anim = run(
        "render", str(single), "--frames", "6", "--scale", "2", "--out", "a.gif", cwd=tmp_path
    )
    assert anim.returncode == 0, anim.stderr
    gif = Image.open(tmp_path / "a.gif")
    assert gif.n_frames == 6 and gif.size == (256, 256)
    bad = run("render", str(single), "--out", "a.jpg", cwd=tmp_path)
    assert bad.returncode == 1 and "use a .png" in bad.stderr
    info = run("info", str(tmp_path / "set.h5"), str(single), cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    assert "histogram    zero: 2, one: 1" in info.stdout and "gesture-npy" in info.stdout


def test_info_describes_all_five_tonic_samples(tmp_path):
    from conftest import SAMPLES

    names = [
        "sample_nmnist.bin",
        "sample.aedat4",
        "sample_aedat_header.aedat",
        "sample_ncars.dat",
        "sample_stmnist.mat",
    ]
    missing = [n for n in names if not (SAMPLES / n).exists()]
    if missing:
        pytest.skip(f"real samples {missing} not found in {SAMPLES}: run scripts/fetch_samples.sh")
    result = run("info", *(str(SAMPLES / n) for n in names), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    blocks = {}
    for block in result.stdout.strip().split("\n" + str(SAMPLES)):
        lines = block.strip().splitlines()
        name = Path(lines[0]).name
        blocks[name] = dict(line.split(None, 1) for line in lines[1:])
    expected = {
        "sample_nmnist.bin": ("atis", "None", "4325", "0.310521", "0.496"),
        "sample.aedat4": ("aedat4", "(320, 240, 2)", "111954", "0.589917", "0.4915"),
        "sample_aedat_header.aedat": ("aedat2", "(346, 260, 2)", "0", "0.0", "None"),
        "sample_ncars.dat": ("prophesee-dat", "None", "2009", "0.099952", "0.672"),
        "sample_stmnist.mat": ("stmnist-mat", "(10, 10, 2)", "2346", "0.699118", "0.6824"),
    }
    for name, (fmt, sensor, events, duration, on_share) in expected.items():
        fields = blocks[name]
        assert (fields["format"], fields["sensor_size"], fields["events"]) == (fmt, sensor, events)
        assert (fields["duration_s"], fields["on_share"]) == (duration, on_share)
