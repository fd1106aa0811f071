"""Kill-safe, resumable cache builds and ``on_error``: a build killed with SIGKILL resumes to
the same cache; a corrupted recording fails the build (keeping finished shards) or is
skipped and reported."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from test_recorded_fakes import events_in, put, write_folder_dataset

from snn_transfer.errors import EventFormatError
from snn_transfer.events.cache import CacheSpec, FrameCache
from snn_transfer.events.cache_build import build_cache
from snn_transfer.events.framing import FramePipeline, ToFrame
from snn_transfer.events.recorded.files import FramedFiles
from snn_transfer.events.recorded.folder import folder_samples


def cli(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "snn_transfer.events.cli", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def same_cache(a: Path, b: Path) -> None:
    with h5py.File(a) as x, h5py.File(b) as y:
        for key in ("frames", "labels", "names", "classes", "event_counts", "durations_us"):
            assert np.array_equal(x[key][:], y[key][:]), key
        for key in ("fingerprint", "spec", "skipped", "dataset", "split", "dtype"):
            assert x.attrs[key] == y.attrs[key], key


def test_killed_build_resumes_to_the_same_cache(tmp_path):
    rng = np.random.default_rng(12)
    for k in range(160):
        put(tmp_path / "rec" / f"c{k % 4}" / f"r{k:03d}.bin", events_in(rng, 300, 64, 64), "atis")
    args = ["preprocess", "folder", "--root", "rec", "--sensor", "64", "64", "--frames", "4"]
    args += ["--size", "0", "--split", "train", "--shard-size", "1", "--quiet"]
    out = tmp_path / "c.h5"
    shards = tmp_path / "c.h5.shards"
    build = cli(*args, "--out", "c.h5", cwd=tmp_path)
    deadline = time.monotonic() + 60
    while (
        len(list(shards.glob("*.h5"))) < 3 and build.poll() is None and time.monotonic() < deadline
    ):
        time.sleep(0.002)
    os.kill(build.pid, signal.SIGKILL)
    build.communicate()
    assert build.returncode == -signal.SIGKILL
    done = len(list(shards.glob("*.h5")))
    assert not out.exists() and 3 <= done < 144  # 144 = round(0.9 * 40) * 4 training files
    journal = (shards / "journal.jsonl").read_text().splitlines()
    assert len(journal) >= done - 1 and json.loads(journal[0])["samples"] == 1

    resumed = cli(*args, "--out", "c.h5", cwd=tmp_path)
    stdout, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr
    assert "finished shards resumed" in stdout and "144 samples" in stdout
    assert not shards.exists() and out.exists()
    whole = cli(*args, "--out", "whole.h5", cwd=tmp_path)
    assert whole.communicate(timeout=120) and whole.returncode == 0
    same_cache(out, tmp_path / "whole.h5")
    assert len(FrameCache(out)) == 144


@pytest.fixture
def damaged(tmp_path):
    root = write_folder_dataset(tmp_path / "rec", np.random.default_rng(13), per_class=6, events=50)
    (root / "a" / "rec3.aedat4").write_bytes(b"#!AER-DAT4.0\r\n\x05\x00")  # truncated header
    files = folder_samples(root).split("train")
    pipe = FramePipeline(ToFrame((128, 128, 2), n_time_bins=2))
    spec = CacheSpec("folder", "train", files.digest(), len(files), pipe)
    return files, pipe, spec


def test_on_error_fail_keeps_finished_shards_and_skip_resumes(tmp_path, damaged):
    files, pipe, spec = damaged
    out = tmp_path / "c.h5"
    options = dict(classes=files.classes, shard_size=2, progress=False)
    with pytest.raises(EventFormatError) as error:
        build_cache(out, FramedFiles(files, pipe), spec, **options)
    assert "rec3.aedat4" in str(error.value) and "finished shards of 5 are kept" in str(error.value)
    assert sorted(p.name for p in (tmp_path / "c.h5.shards").glob("*.h5")) == ["00000.h5"]
    assert not out.exists()
    report = build_cache(out, FramedFiles(files, pipe), spec, on_error="skip", **options)
    assert report.shards_reused == 1 and report.shards_built == 4
    assert report.samples == 9 and [s["name"] for s in report.skipped] == ["a/rec3.aedat4"]
    assert (
        "not an AEDAT4 file" in report.skipped[0]["error"] or "AEDAT" in report.skipped[0]["error"]
    )
    cache = FrameCache(out, spec)
    assert "a/rec3.aedat4" not in cache.names and len(cache) == 9
    assert cache.skipped == report.skipped
    assert report.lines()[1] == "skipped 1 recordings"


def test_cli_on_error_skip_reports_and_records(tmp_path, damaged):
    files, _, _ = damaged
    run = cli(
        "preprocess", "folder", "--root", str(files.root), "--out", "c.h5", "--frames", "2",
        "--size", "0", "--on-error", "skip", "--workers", "2", "--shard-size", "3", cwd=tmp_path,
    )  # fmt: skip
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    assert "train: " in stdout and "skipped 1 recordings" in stdout and "a/rec3.aedat4:" in stdout
    assert "caching c-train.h5" in stderr  # the progress bar
    with h5py.File(tmp_path / "c-train.h5") as file:
        skipped = json.loads(file.attrs["skipped"])
    assert [s["name"] for s in skipped] == ["a/rec3.aedat4"] and "rec3.aedat4" in skipped[0][
        "error"
    ]
    assert len(FrameCache(tmp_path / "c-test.h5")) == 2
    failing = cli("preprocess", "folder", "--root", str(files.root), "--out", "d.h5", cwd=tmp_path)
    stdout, stderr = failing.communicate(timeout=120)
    assert failing.returncode == 1 and "rec3.aedat4" in stderr and "Traceback" not in stderr


def test_workers_fork_without_torch_and_spawn_with_it(monkeypatch):
    from snn_transfer.events.cache_build import start_method

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setitem(sys.modules, "torch", sys.modules.get("torch", object()))
    assert start_method() == "spawn"  # torch's thread pools and CUDA do not survive a fork
    monkeypatch.delitem(sys.modules, "torch")
    assert start_method() == "fork"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert start_method() == "spawn"


def test_the_preprocess_command_does_not_import_torch(tmp_path):
    # so that its workers are forked (started at once) rather than spawned
    code = (
        "import sys; from snn_transfer.events.cli import main; main(['datasets']); "
        "from snn_transfer.events import cache_build, commands; "
        "print('torch' in sys.modules, cache_build.start_method())"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    expected = "fork" if sys.platform.startswith("linux") else "spawn"
    assert run.stdout.strip().splitlines()[-1] == f"False {expected}"


class FailingAt:
    """A source whose sample ``bad`` cannot be read."""

    def __init__(self, source, bad: int):
        self.source, self.bad = source, bad
        self.names, self.labels = source.names, source.labels

    def __len__(self) -> int:
        return len(self.source)

    def load(self, i: int):
        if i == self.bad:
            raise EventFormatError("damaged on purpose", path=self.names[i])
        return self.source.load(i)


@pytest.mark.parametrize("resume", [False, True], ids=["fresh", "resumed"])
def test_workers_merge_shards_as_they_finish_into_the_same_cache(tmp_path, resume):
    # with workers and on_error="fail" the merge streams the shards in order while later ones
    # are built; the result is the cache one process builds
    rng = np.random.default_rng(21)
    for k in range(40):
        put(tmp_path / "rec" / f"c{k % 4}" / f"r{k:03d}.bin", events_in(rng, 200, 64, 64), "atis")
    files = folder_samples(tmp_path / "rec", sensor_size=(64, 64, 2)).split("train")
    pipe = FramePipeline(ToFrame((64, 64, 2), n_time_bins=3))
    spec = CacheSpec("folder", "train", files.digest(), len(files), pipe)
    options = dict(classes=files.classes, shard_size=3, progress=False)
    one = build_cache(tmp_path / "one.h5", FramedFiles(files, pipe), spec, **options)
    out = tmp_path / "two.h5"
    if resume:  # the finished shards a failed build left, as a rerun finds them
        with pytest.raises(EventFormatError, match="finished shards of"):
            build_cache(out, FailingAt(FramedFiles(files, pipe), 7), spec, **options)
        assert len(list(out.with_name("two.h5.shards").glob("*.h5"))) == 2
    two = build_cache(out, FramedFiles(files, pipe), spec, **options, workers=2)
    assert two.samples == one.samples == len(files) and not two.skipped
    assert two.shards_reused == (2 if resume else 0)
    same_cache(tmp_path / "one.h5", out)
    assert not out.with_name("two.h5.shards").exists()


def test_workers_stop_at_a_bad_recording_and_keep_no_cache(tmp_path, damaged):
    files, pipe, spec = damaged
    out = tmp_path / "c.h5"
    options = dict(classes=files.classes, shard_size=2, progress=False, workers=2)
    with pytest.raises(EventFormatError, match="finished shards of") as error:
        build_cache(out, FramedFiles(files, pipe), spec, **options)
    assert "rec3.aedat4" in str(error.value)
    assert not out.exists() and not list(tmp_path.glob(".c.h5.*.tmp"))  # no merge left behind
    report = build_cache(out, FramedFiles(files, pipe), spec, **options, on_error="skip")
    assert [s["name"] for s in report.skipped] == ["a/rec3.aedat4"]
    assert len(FrameCache(out, spec)) == len(files) - 1
