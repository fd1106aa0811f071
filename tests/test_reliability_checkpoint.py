"""One self-checking file per checkpoint: a ``torch.save`` archive that ``torch.load(path,
weights_only=True)`` reads, sealed with its SHA-256 in the zip comment; any damaged byte named
with the file and what is wrong; checkpoints of the older formats; a pickle that would run
code refused without running it; and SIGKILL while ``best.pt`` is replaced: the old content or
the new one is there, intact."""

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
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from snn_transfer.checkpoint import (
    CheckpointError,
    checkpoint_intact,
    load_checkpoint,
    load_newest_intact,
    remove_stale_temporaries,
    rotate,
    save_checkpoint,
)
from snn_transfer.checkpoint_file import (
    HEADER_V1,
    MAGIC_V1,
    TRAILER_PREFIX,
    TRAILER_SIZE,
    read_archive,
)

torch.set_num_threads(1)


def state(step: int, size: int = 1000) -> dict:
    return {"step": step, "blob": torch.full((size,), step, dtype=torch.int32)}


def test_the_file_is_a_torch_save_archive_sealed_with_its_sha256(tmp_path):
    path = save_checkpoint(tmp_path / "best.pt", state(3))
    data = path.read_bytes()
    assert data[-TRAILER_SIZE:-64] == TRAILER_PREFIX == b"snn-transfer checkpoint 2 sha256 "
    assert data[-64:].decode() == hashlib.sha256(data[:-64]).hexdigest()
    # a plain PyTorch file: torch.load reads it as it is, weights only, and so does zipfile
    plain = torch.load(path, weights_only=True)
    assert plain["step"] == 3 and torch.equal(plain["blob"], state(3)["blob"])
    assert torch.load(path, weights_only=True, mmap=True)["step"] == 3
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None and archive.comment == data[-TRAILER_SIZE:]
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


def _set(data: bytes, at: int, value: bytes) -> bytes:
    return data[:at] + value + data[at + len(value) :]


def _other_hex(data: bytes) -> bytes:
    return _set(data, len(data) - 1, b"0" if data[-1:] != b"0" else b"1")


DAMAGE = {
    "truncated": (lambda d: d[: len(d) - 100], r"truncated: not a complete archive"),
    "truncated trailer": (
        lambda d: d[: len(d) - 30],
        rf"truncated: its checksum trailer is {TRAILER_SIZE - 30} of {TRAILER_SIZE} bytes",
    ),
    "truncated to 20 bytes": (lambda d: d[:20], r"truncated: not a complete archive"),
    "empty": (lambda d: b"", r"truncated: an empty file"),
    "flipped byte": (
        lambda d: _set(d, 500, bytes([d[500] ^ 0x01])),
        r"checksum mismatch: the file's SHA-256 is [0-9a-f]{16}\.\.\., its trailer says",
    ),
    "flipped first byte": (lambda d: _set(d, 0, b"X"), "checksum mismatch"),
    "other digest": (_other_hex, "checksum mismatch"),
    "damaged trailer": (lambda d: _set(d, len(d) - 70, b"#"), "checksum trailer is damaged"),
    "newer version": (
        lambda d: d.replace(b"checkpoint 2 sha256", b"checkpoint 3 sha256"),
        "format version 3, but this snn-transfer reads 2",
    ),
    "extra bytes": (lambda d: d + b"\0", r"has extra bytes: 1 after its checksum trailer"),
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


def test_every_changed_byte_is_detected(tmp_path):
    path = save_checkpoint(tmp_path / "small.pt", state(7, size=16))
    data = path.read_bytes()
    for at in range(len(data)):
        for flip in (0x01, 0x80):
            path.write_bytes(_set(data, at, bytes([data[at] ^ flip])))
            with pytest.raises(CheckpointError, match="is damaged"):
                read_archive(path)
    for cut in range(len(data)):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="is damaged"):
            read_archive(path)


def test_a_missing_checkpoint_and_no_good_one_are_said(tmp_path):
    with pytest.raises(CheckpointError, match=r"checkpoint .*nothing\.pt does not exist$"):
        load_checkpoint(tmp_path / "nothing.pt")
    bad = tmp_path / "old.pt"
    bad.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match=r"new\.pt does not exist; .*\(old\.pt\) are damaged"):
        load_checkpoint(tmp_path / "new.pt", previous=[bad])
    with pytest.raises(CheckpointError, match=r"not a checkpoint: it starts with b'garbage'"):
        load_checkpoint(bad)


class RunsCode:
    """A pickle of this object calls ``os.mkdir(marker)`` on loading: code a checkpoint must
    not run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def _sealed(state_dict: dict) -> bytes:
    from snn_transfer.checkpoint_file import seal

    buffer = io.BytesIO()
    torch.save(state_dict, buffer)  # torch.save itself pickles anything
    return b"".join(bytes(chunk) for chunk in seal(buffer.getvalue()))


def test_a_checkpoint_whose_pickle_runs_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "code-ran"
    planted = tmp_path / "best.pt"
    # intact as a file (its checksum is right): only what the pickle names gives it away
    planted.write_bytes(_sealed({"model": {"w": torch.zeros(2)}, "extra": RunsCode(marker)}))
    assert checkpoint_intact(planted)
    with pytest.raises(CheckpointError, match=r"was refused: its pickle names \S*mkdir") as caught:
        load_checkpoint(planted)
    assert "nothing of it was executed" in str(caught.value)
    # the older formats are read with weights_only=True too
    buffer = io.BytesIO()
    torch.save({"extra": RunsCode(marker)}, buffer)
    payload = buffer.getvalue()
    older = tmp_path / "older.pt"
    older.write_bytes(HEADER_V1.pack(MAGIC_V1, len(payload), hashlib.sha256(payload).digest()))
    with open(older, "ab") as file:
        file.write(payload)
    with pytest.raises(CheckpointError, match="was refused"):
        load_checkpoint(older)
    bare = tmp_path / "bare.pt"
    bare.write_bytes(payload)
    with pytest.raises(CheckpointError, match="was refused"):
        load_checkpoint(bare)
    assert not marker.exists()
    # and a run directory holding it: evaluating it runs nothing either
    from snn_transfer.rundir import load_run

    with pytest.raises(CheckpointError, match="was refused"):
        load_run(tmp_path)
    assert not marker.exists()
    # what it would have done: an unrestricted unpickler runs the call
    torch.load(planted, weights_only=False)
    assert marker.is_dir()


def test_saving_refuses_a_state_that_is_not_tensors_and_plain_data(tmp_path):
    with pytest.raises(CheckpointError, match=r"state\['rng'\]\['numpy'\]\[1\] is a numpy"):
        save_checkpoint(tmp_path / "x.pt", {"rng": {"numpy": ("MT19937", np.zeros(3))}})
    with pytest.raises(CheckpointError, match=r"state\['extra'\] is a .*RunsCode"):
        save_checkpoint(tmp_path / "x.pt", {"extra": RunsCode(tmp_path / "m")})
    assert list(tmp_path.iterdir()) == []


def format_1(path: Path, state_dict: dict) -> Path:
    """A checkpoint as format 1 wrote it: a 48-byte header (magic, length, SHA-256), then the
    ``torch.save`` bytes of a state that pickled objects (a frame spec, numpy's RNG tuple)."""
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    payload = buffer.getvalue()
    header = HEADER_V1.pack(MAGIC_V1, len(payload), hashlib.sha256(payload).digest())
    path.write_bytes(header + payload)
    return path


def test_format_1_checkpoints_are_verified_and_read_as_plain_data(tmp_path):
    from snn_transfer.checkpoint_state import set_numpy_rng_state, spec_from_plain
    from snn_transfer.events.framing import FramePipeline, ToFrame
    from snn_transfer.events.transforms import Resize

    framing = FramePipeline(ToFrame(sensor_size=(34, 34, 2), n_time_bins=4), (Resize(48),))
    rng = np.random.get_state()
    old = format_1(tmp_path / "best.pt", {**state(4), "framing": framing, "rng": rng})
    loaded = load_checkpoint(old)
    assert loaded["step"] == 4 and loaded["framing"]["class"] == "FramePipeline"
    assert spec_from_plain(loaded["framing"]) == framing
    np.random.random(5)
    set_numpy_rng_state(loaded["rng"])
    assert np.array_equal(np.random.get_state()[1], rng[1])
    data = old.read_bytes()
    old.write_bytes(_set(data, 300, bytes([data[300] ^ 0x04])))
    with pytest.raises(CheckpointError, match="damaged \\(checksum mismatch: the payload's"):
        load_checkpoint(old)
    old.write_bytes(data[:-10])
    with pytest.raises(CheckpointError, match="truncated: .* payload bytes, its header says"):
        load_checkpoint(old)
    old.write_bytes(b"SNNCKPT9" + data[8:])
    with pytest.raises(CheckpointError, match="format version 9"):
        load_checkpoint(old)


def legacy(path: Path, step: int, *, sidecar: bool = True) -> Path:
    """A checkpoint as the oldest format wrote it: bare ``torch.save`` bytes + ``.sha256``."""
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
    with pytest.raises(CheckpointError, match=r"bare\.pt is damaged \(truncated: not a complete"):
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
# oldest format still had its sidecar to write); "loop" replaces it forever (steps 1, 2, ...),
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
            if len(chunk) > 1000:  # the archive, not the trailer
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
