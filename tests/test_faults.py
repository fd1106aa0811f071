"""Faults during training: SIGKILL at a random point, damaged checkpoints, a full disk, and a
sample that fails to load inside a DataLoader worker."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from snn_transfer.checkpoint import (
    CheckpointError,
    DiskSpaceError,
    checkpoint_intact,
    load_checkpoint,
    save_checkpoint,
)
from snn_transfer.errors import DatasetError
from snn_transfer.run_config import TransferConfig
from snn_transfer.trainer import Trainer

torch.set_num_threads(1)

# the child trains one configuration into a run directory; with a third argument N it is
# killed by SIGKILL inside its N-th fsync of a file (not of a folder), i.e. in the middle of
# writing a file: config.yaml, meta.json, ckpt 1, 2, 3, metrics.csv, best.pt, ckpt 3 again...
CHILD = """
import json, os, signal, stat, sys
import torch
torch.set_num_threads(1)
if len(sys.argv) > 3:
    calls, fsync = [0], os.fsync
    def dying_fsync(fd):
        calls[0] += stat.S_ISREG(os.fstat(fd).st_mode)
        if calls[0] == int(sys.argv[3]):
            os.kill(os.getpid(), signal.SIGKILL)
        fsync(fd)
    os.fsync = dying_fsync
from snn_transfer.run_config import TransferConfig
from snn_transfer.trainer import Trainer
config = TransferConfig.from_dict(json.loads(sys.argv[1]))
Trainer(config, sys.argv[2], progress=False, quiet=True).fit()
"""


def settings(cache: str, **top) -> dict:
    return {
        "epochs": 3,
        "time_steps": 4,
        "seed": 3,
        "checkpoint_every": 1,
        "keep_checkpoints": 3,
        "data": {
            "options": {"per_class": 20, "cache_dir": cache, "progress": False},
            "batch_size": 16,
        },
        "optim": {"warmup_epochs": 0, "base_lr": 0.05},
        **top,
    }


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """An uninterrupted run (3 epochs of 3 iterations), the reference for every resume."""
    cache = str(tmp_path_factory.mktemp("cache"))
    trainer = Trainer(TransferConfig.from_dict(settings(cache)), None, progress=False, quiet=True)
    trainer.fit()
    return cache, trainer


def assert_same_run(a: Trainer, b: Trainer) -> None:
    for (name, x), y in zip(
        a.model.state_dict().items(), b.model.state_dict().values(), strict=True
    ):
        assert torch.equal(x, y), name
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    for ra, rb in zip(strip(a.history), strip(b.history), strict=True):
        assert {k: (v, rb.get(k)) for k, v in ra.items() if rb.get(k) != v} == {}
    assert a.result() == b.result()


def start_child(cache: str, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(settings(cache)), str(out), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def resume_and_compare(out: Path, reference: Trainer) -> Trainer:
    checkpoints = sorted((out / "checkpoints").glob("ckpt-*.pt"))
    # never half-written: every checkpoint in place is complete and matches its header
    assert all(checkpoint_intact(p) for p in checkpoints)
    assert not (out / "best.pt").exists() or checkpoint_intact(out / "best.pt")
    resumed = Trainer.resume(out, progress=False, quiet=True)
    resumed.fit()
    assert_same_run(reference, resumed)
    return resumed


def test_sigkill_at_a_random_point_then_resume_equals_an_uninterrupted_run(whole, tmp_path):
    cache, reference = whole
    seed = int(os.environ.get("SNN_FAULT_SEED", random.randrange(2**31)))
    delay = random.Random(seed).uniform(0.0, 1.5)
    out = tmp_path / "run"
    child = start_child(cache, out)
    deadline = time.monotonic() + 120
    while not any((out / "checkpoints").glob("ckpt-*.pt")):
        assert child.poll() is None, child.stderr.read().decode()
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.02)
    time.sleep(delay)
    child.kill()  # SIGKILL
    child.wait()
    print(f"SNN_FAULT_SEED={seed}: killed {delay:.2f} s after the first checkpoint")
    assert child.returncode in (-signal.SIGKILL, 0)  # 0: it finished before the kill
    resume_and_compare(out, reference)


# 4: writing ckpt 2; 7: writing best.pt; 8: replacing ckpt 3 in place (saved again at the
# end of epoch 1)
@pytest.mark.parametrize("fsync_call", [4, 7, 8])
def test_sigkill_while_writing_a_file_leaves_no_half_written_checkpoint(
    whole, tmp_path, fsync_call
):
    cache, reference = whole
    out = tmp_path / "run"
    child = start_child(cache, out, str(fsync_call))
    assert child.wait(timeout=120) == -signal.SIGKILL, child.stderr.read().decode()
    assert list(out.rglob(".*.tmp")), "the kill did not hit a write"
    resume_and_compare(out, reference)


@pytest.fixture(scope="module")
def stopped(whole, tmp_path_factory):
    """A run stopped after 4 iterations with checkpoints 2, 3 and 4 kept."""
    cache, _ = whole
    out = tmp_path_factory.mktemp("stopped")
    trainer = Trainer(TransferConfig.from_dict(settings(cache)), out, progress=False, quiet=True)
    trainer.fit(stop_after=4)
    return out


def damaged_copy(stopped: Path, tmp_path: Path, damage: str) -> Path:
    import shutil

    out = tmp_path / "run"
    shutil.copytree(stopped, out)
    newest = out / "checkpoints" / "ckpt-000000004.pt"
    data = bytearray(newest.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "first bytes":  # the zip's magic: the file's SHA-256 covers it too
        data[:8] = b"NOTACKPT"
    else:
        for i in range(1000, 1010):
            data[i] ^= 0xFF
    newest.write_bytes(bytes(data))
    return out


@pytest.mark.parametrize("damage", ["truncate", "flip", "first bytes"])
def test_a_damaged_checkpoint_is_named_with_the_previous_good_one(stopped, tmp_path, damage):
    out = damaged_copy(stopped, tmp_path, damage)
    with pytest.raises(CheckpointError) as caught:
        Trainer.resume(out, fallback=False, progress=False, quiet=True)
    message = str(caught.value)
    assert "ckpt-000000004.pt is damaged" in message
    reason = {"truncate": "truncated", "flip": "checksum mismatch"}.get(damage, "checksum mismatch")
    assert reason in message
    assert "previous good checkpoint is" in message and "ckpt-000000003.pt" in message


def test_resume_falls_back_to_the_newest_intact_checkpoint(whole, stopped, tmp_path):
    _, reference = whole
    out = damaged_copy(stopped, tmp_path, "flip")
    with pytest.warns(RuntimeWarning, match=r"ckpt-000000004\.pt is damaged.*ckpt-000000003"):
        resumed = Trainer.resume(out, progress=False, quiet=True)
    assert resumed.iteration == 3
    resumed.fit()
    assert_same_run(reference, resumed)


def test_all_checkpoints_damaged_is_an_error(stopped, tmp_path):
    out = damaged_copy(stopped, tmp_path, "flip")
    for older in ("ckpt-000000002.pt", "ckpt-000000003.pt"):
        (out / "checkpoints" / older).write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match=r"ckpt-000000004\.pt.*damaged too"):
        Trainer.resume(out, progress=False, quiet=True)


def test_too_little_free_space_fails_before_training(whole, tmp_path, monkeypatch):
    import shutil

    cache, _ = whole
    trainer = Trainer(
        TransferConfig.from_dict(settings(cache)), tmp_path / "run", progress=False, quiet=True
    )
    need = trainer.required_space()
    assert need > 5 * sum(p.numel() * 4 for p in trainer.model.parameters())
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=need // 2))
    with pytest.raises(
        DiskSpaceError, match=r"run directory .*run has .* MiB free.*keep_checkpoints"
    ):
        trainer.fit()
    assert trainer.iteration == 0
    assert not list((tmp_path / "run").glob("checkpoints/*.pt"))


def test_a_failed_checkpoint_write_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    import errno

    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"step": 1})

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(DiskSpaceError, match=r"cannot write .*ckpt\.pt.*No space left"):
        save_checkpoint(path, {"step": 2})
    monkeypatch.undo()
    assert checkpoint_intact(path)
    assert load_checkpoint(path) == {"step": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]


# --- a sample that fails to load names its file --------------------------------------------


class FileEvents:
    """Event files read on access: ``ds[i] -> (events, label)`` with ``names``/``labels``."""

    def __init__(self, paths: list[Path], labels: list[int]) -> None:
        self.paths, self.labels = paths, np.asarray(labels)
        self.names = [p.name for p in paths]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        from snn_transfer.events.io import read_atis

        return read_atis(self.paths[i]).events, int(self.labels[i])


@pytest.mark.parametrize("workers", [0, 1])
def test_a_worker_crash_names_the_failing_file(tmp_path, workers):
    from snn_transfer.events.core import make_events
    from snn_transfer.events.datasets import EventFrames
    from snn_transfer.events.framing import ToFrame
    from snn_transfer.events.io import write_atis
    from snn_transfer.sample_errors import NamedSamples

    paths = []
    for i in range(4):
        n = 50
        events = make_events(
            np.arange(n) % 8, np.arange(n) % 6, np.arange(n) * 10, np.arange(n) % 2
        )
        paths.append(tmp_path / f"rec{i}.bin")
        write_atis(paths[-1], events)
    paths[2].write_bytes(paths[2].read_bytes()[:-2])  # truncated mid-record
    split = EventFrames(
        FileEvents(paths, [0, 1, 0, 1]), np.arange(4), ToFrame((8, 6, 2), n_time_bins=2)
    )
    loader = torch.utils.data.DataLoader(NamedSamples(split), batch_size=1, num_workers=workers)
    with pytest.raises(DatasetError) as caught:
        list(loader)
    message = str(caught.value)
    assert "sample 2 (file rec2.bin)" in message and "EventFormatError" in message
    assert "rec2.bin" in message
