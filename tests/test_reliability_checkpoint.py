"""One self-checking file per checkpoint: its header (magic, payload length, SHA-256), damage
named with the file and what is wrong, checkpoints of the older sidecar format, and SIGKILL
while ``best.pt`` is replaced: the old content or the new one is there, intact."""

from __future__ import annotations

import hashlib
import io
import os
import random
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from snn_transfer.checkpoint import (
    HEADER,
    MAGIC,
    CheckpointError,
    checkpoint_intact,
    load_checkpoint,
    load_newest_intact,
    remove_stale_temporaries,
    rotate,
    save_checkpoint,
)

torch.set_num_threads(1)


def state(step: int, size: int = 1000) -> dict:
    return {"step": step, "blob": torch.full((size,), step, dtype=torch.int32)}


def test_the_file_is_a_header_then_the_torch_save_bytes(tmp_path):
    path = save_checkpoint(tmp_path / "best.pt", state(3))
    data = path.read_bytes()
    magic, length, digest = HEADER.unpack(data[: HEADER.size])
    payload = data[HEADER.size :]
    assert (magic, HEADER.size) == (MAGIC, 48) and data[:8] == b"SNNCKPT1"
    assert length == len(payload) and digest == hashlib.sha256(payload).digest()
    assert torch.load(io.BytesIO(payload), weights_only=False)["step"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt"]  # no sidecar, no temp
    loaded = load_checkpoint(path)
    assert loaded["step"] == 3 and torch.equal(loaded["blob"], state(3)["blob"])


def test_the_rename_is_flushed_with_its_folder(tmp_path, monkeypatch):
    kinds, fsync = [], os.fsync

    def recording(fd):
        kinds.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        fsync(fd)

    monkeypatch.setattr(os, "fsync", recording)
    save_checkpoint(tmp_path / "best.pt", state(1))
    assert kinds == ["file", "dir"]


DAMAGE = {
    "truncated": (lambda d: d[: len(d) - 100], r"truncated: \d+ payload bytes, its header says"),
    "truncated header": (lambda d: d[:20], "truncated inside its 48-byte header: 20 bytes"),
    "empty": (lambda d: b"", "truncated inside its 48-byte header: an empty file"),
    "flipped byte": (
        lambda d: d[:500] + bytes([d[500] ^ 0x01]) + d[501:],
        "checksum mismatch: the payload's SHA-256 is",
    ),
    "flipped hash": (lambda d: d[:20] + bytes([d[20] ^ 0x80]) + d[21:], "checksum mismatch"),
    "wrong magic": (lambda d: b"XNNCKPT1" + d[8:], "wrong magic: it starts with b'XNNCKPT1'"),
    "newer version": (lambda d: b"SNNCKPT2" + d[8:], "format version 2, but this snn-transfer"),
    "extra bytes": (lambda d: d + b"\0", r"has extra bytes: \d+ payload bytes"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damage_is_named_with_the_file_and_the_previous_good_one(tmp_path, damage):
    older = save_checkpoint(tmp_path / "ckpt-1.pt", state(1))
    newest = save_checkpoint(tmp_path / "ckpt-2.pt", state(2))
    change, reason = DAMAGE[damage]
    newest.write_bytes(change(newest.read_bytes()))
    assert not checkpoint_intact(newest) and checkpoint_intact(older)
    with pytest.raises(CheckpointError, match=reason) as caught:
        load_checkpoint(newest, previous=[older, newest])
    message = str(caught.value)
    assert f"checkpoint {newest} is damaged (" in message
    assert f"the previous good checkpoint is {older}" in message
    with pytest.warns(RuntimeWarning, match=r"ckpt-2\.pt is damaged.*resuming from .*ckpt-1"):
        loaded, path = load_newest_intact([older, newest])
    assert path == older and loaded["step"] == 1


def test_a_missing_checkpoint_and_no_good_one_are_said(tmp_path):
    with pytest.raises(CheckpointError, match=r"checkpoint .*nothing\.pt does not exist$"):
        load_checkpoint(tmp_path / "nothing.pt")
    bad = tmp_path / "old.pt"
    bad.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match=r"new\.pt does not exist; .*\(old\.pt\) are damaged"):
        load_checkpoint(tmp_path / "new.pt", previous=[bad])


def legacy(path: Path, step: int, *, sidecar: bool = True) -> Path:
    """A checkpoint as the older format wrote it: bare ``torch.save`` bytes + ``.sha256``."""
    buffer = io.BytesIO()
    torch.save(state(step), buffer)
    path.write_bytes(buffer.getvalue())
    if sidecar:
        digest = hashlib.sha256(buffer.getvalue()).hexdigest()
        path.with_name(path.name + ".sha256").write_text(digest)
    return path


def test_checkpoints_of_the_older_sidecar_format_are_still_verified_and_read(tmp_path):
    old = legacy(tmp_path / "ckpt-1.pt", 1)
    assert checkpoint_intact(old) and load_checkpoint(old)["step"] == 1
    bare = legacy(tmp_path / "bare.pt", 2, sidecar=False)  # a complete archive: readable
    assert checkpoint_intact(bare) and load_checkpoint(bare)["step"] == 2

    data = bytearray(old.read_bytes())
    data[200] ^= 0x01
    old.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"ckpt-1\.pt is damaged \(checksum mismatch with"):
        load_checkpoint(old)
    bare.write_bytes(bare.read_bytes()[:300])
    with pytest.raises(CheckpointError, match=r"bare\.pt is damaged \(older format without its"):
        load_checkpoint(bare)

    save_checkpoint(old, state(5))  # the new format replaces it; its sidecar goes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bare.pt", "ckpt-1.pt"]
    assert load_checkpoint(old)["step"] == 5


def test_rotate_removes_old_checkpoints_and_older_format_sidecars(tmp_path):
    legacy(tmp_path / "ckpt-1.pt", 1)
    for step in (2, 3, 4):
        save_checkpoint(tmp_path / f"ckpt-{step}.pt", state(step))
    rotate(tmp_path, "ckpt-*.pt", 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-3.pt", "ckpt-4.pt"]


# --- SIGKILL while best.pt is replaced ----------------------------------------------------

# argv: path, stage. Writes step 0, then replaces it with step 1 and dies at ``stage``:
# "mid-write" with half of the new payload in the temporary file, "before-rename" in the
# fsync of the complete temporary file, "after-rename" right after the rename (where the
# older format still had its sidecar to write); "loop" replaces it forever (steps 1, 2, ...),
# printing each finished step, until killed.
CHILD = """
import os, signal, stat, sys
import torch
torch.set_num_threads(1)
from snn_transfer import atomic, checkpoint

path, stage = sys.argv[1], sys.argv[2]
def state(step):
    return {"step": step, "blob": torch.full((2**20,), step, dtype=torch.int32)}
checkpoint.save_checkpoint(path, state(0))
die = lambda: os.kill(os.getpid(), signal.SIGKILL)
if stage == "mid-write":
    class Dying:
        def __init__(self, f):
            self.f = f
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            self.f.close()
        def write(self, chunk):
            if len(chunk) > checkpoint.HEADER.size:
                self.f.write(chunk[: len(chunk) // 2])
                self.f.flush()
                die()
            self.f.write(chunk)
    atomic.open = lambda *args: Dying(open(*args))
elif stage == "before-rename":
    fsync = os.fsync
    def dying_fsync(fd):
        if stat.S_ISREG(os.fstat(fd).st_mode):
            die()
        fsync(fd)
    os.fsync = dying_fsync
elif stage == "after-rename":
    replace = os.replace
    def dying_replace(*args):
        replace(*args)
        die()
    os.replace = dying_replace
if stage == "loop":
    step = 1
    while True:
        checkpoint.save_checkpoint(path, state(step))
        print(step, flush=True)
        step += 1
checkpoint.save_checkpoint(path, state(1))
"""


def child(path: Path, stage: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), stage],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def intact_step(path: Path) -> int:
    """The step held by ``path``, after checking that it verifies and is self-consistent."""
    assert checkpoint_intact(path), f"{path} fails verification after the kill"
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["blob"], torch.full((2**20,), loaded["step"], dtype=torch.int32))
    return loaded["step"]


@pytest.mark.parametrize(
    ("stage", "expected"), [("mid-write", 0), ("before-rename", 0), ("after-rename", 1)]
)
def test_sigkill_while_best_is_replaced_leaves_the_old_or_the_new_one_intact(
    tmp_path, stage, expected
):
    best = tmp_path / "best.pt"
    process = child(best, stage)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == -signal.SIGKILL, stderr
    leftovers = list(tmp_path.glob(".best.pt.*.tmp"))
    assert bool(leftovers) == (stage != "after-rename")  # the kill hit the write it aimed at
    assert intact_step(best) == expected
    # the next rotation (or training start) clears the dead writer's temporary file only
    live = tmp_path / f".ckpt-9.pt.{os.getpid()}.tmp"
    live.write_bytes(b"being written")
    assert remove_stale_temporaries(tmp_path) == leftovers
    assert not list(tmp_path.glob(".best.pt.*.tmp")) and live.exists() and best.exists()


def test_sigkill_at_random_moments_of_replacing_best(tmp_path):
    seed = int(os.environ.get("SNN_FAULT_SEED", random.randrange(2**31)))
    rng = random.Random(seed)
    for attempt in range(3):
        best = tmp_path / f"run{attempt}" / "best.pt"
        best.parent.mkdir()
        process = child(best, "loop")
        first = process.stdout.readline()  # step 1 replaced step 0: replacing in a loop now
        assert first == "1\n", process.stderr.read()
        delay = rng.uniform(0.0, 0.3)
        time.sleep(delay)
        process.kill()
        stdout, _ = process.communicate(timeout=60)
        finished = int((first + stdout).split()[-1])
        step = intact_step(best)
        print(f"SNN_FAULT_SEED={seed}: killed {delay:.3f} s in, after step {finished}: {step}")
        assert step in (finished, finished + 1)
