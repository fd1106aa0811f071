"""Checkpoints that are never half-written and whose damage is detected.

A checkpoint is written to a temporary file in the same folder, flushed to disk and renamed
into place; a SHA-256 of its bytes is stored next to it (``<name>.sha256``) and checked when
it is loaded. ``rotate`` keeps the newest few.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch

from snn_transfer.errors import SnnTransferError


class CheckpointError(SnnTransferError):
    """A checkpoint is missing, truncated or does not match its checksum."""


class DiskSpaceError(SnnTransferError):
    """The run directory's file system has too little free space, or a write failed."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: ``path`` holds either
    its old bytes or all of ``data``. A failed write (a full disk) removes the temporary file
    and raises :class:`DiskSpaceError` naming ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise DiskSpaceError(
            f"cannot write {path} ({len(data) / 2**20:.1f} MiB): {error}; free space on that "
            "file system or choose another output directory; the files already there are intact"
        ) from error


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Serialise ``state`` with ``torch.save`` and write it atomically with its checksum."""
    path = Path(path)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    atomic_write_bytes(path, data)
    atomic_write_bytes(
        path.with_name(path.name + ".sha256"), hashlib.sha256(data).hexdigest().encode()
    )
    return path


def checkpoint_intact(path: str | Path) -> bool:
    """Whether ``path`` exists and matches its checksum sidecar (no sidecar: whether it is a
    complete archive, which ``torch.save`` ends with a zip directory)."""
    path = Path(path)
    if not path.is_file():
        return False
    data = path.read_bytes()
    digest_file = path.with_name(path.name + ".sha256")
    if digest_file.is_file():
        return hashlib.sha256(data).hexdigest() == digest_file.read_text().strip()
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.testzip() is None
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def load_checkpoint(path: str | Path, *, previous: list[Path] | None = None) -> dict[str, Any]:
    """Load a checkpoint after verifying its checksum.

    On damage the error names the file and, when given, the newest of ``previous`` that is
    intact (checked, not guessed), or says that none is.
    """
    path = Path(path)
    hint = ""
    others = [p for p in (previous or []) if p != path and p.exists()]
    good = next((p for p in reversed(others) if checkpoint_intact(p)), None)
    if good is not None:
        hint = f"; the previous good checkpoint is {good} (resume falls back to it)"
    elif others:
        hint = f"; the older checkpoints ({', '.join(p.name for p in others)}) are damaged too"
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist{hint}")
    data = path.read_bytes()
    digest_file = path.with_name(path.name + ".sha256")
    if digest_file.is_file():
        expected = digest_file.read_text().strip()
        if hashlib.sha256(data).hexdigest() != expected:
            raise CheckpointError(
                f"checkpoint {path} is damaged (checksum mismatch, {len(data)} bytes){hint}"
            )
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
    except Exception as error:  # torch raises many types for a bad archive
        raise CheckpointError(f"checkpoint {path} cannot be read: {error}{hint}") from None


def rotate(folder: Path, pattern: str, keep: int) -> None:
    """Delete all but the ``keep`` newest files matching ``pattern`` (by name order)."""
    files = sorted(folder.glob(pattern))
    for old in files[: max(len(files) - keep, 0)]:
        old.unlink(missing_ok=True)
        old.with_name(old.name + ".sha256").unlink(missing_ok=True)


def load_newest_intact(
    checkpoints: list[Path], *, fallback: bool = True
) -> tuple[dict[str, Any], Path]:
    """Load the newest of ``checkpoints`` (sorted oldest first) and return it with its path.

    With ``fallback`` a damaged newest one is skipped with a warning that names it, and the
    next older intact one is loaded; without it (or when none is intact) a
    :class:`CheckpointError` names the damaged file and the previous good one.
    """
    if not checkpoints:
        raise CheckpointError("no checkpoints to load")
    newest = checkpoints[-1]
    try:
        return load_checkpoint(newest, previous=checkpoints[:-1]), newest
    except CheckpointError as error:
        if not fallback:
            raise
        for older in reversed(checkpoints[:-1]):
            if checkpoint_intact(older):
                warnings.warn(
                    f"{error}; resuming from {older} instead", RuntimeWarning, stacklevel=2
                )
                return load_checkpoint(older), older
        raise


def checkpoint_bytes(modules: list[Any]) -> int:
    """Estimated size of one checkpoint, in bytes: the parameters and buffers of ``modules``
    plus two optimizer moments (AdamW) per parameter, and 1 MiB for the rest."""
    total = 0
    for module in modules:
        if module is None:
            continue
        params = sum(p.numel() * p.element_size() for p in module.parameters())
        buffers = sum(b.numel() * b.element_size() for b in module.buffers())
        total += 3 * params + buffers
    return total + 2**20


def check_free_space(folder: str | Path, needed: int, *, what: str) -> None:
    """Refuse (before any work) when the file system of ``folder`` has less than ``needed``
    bytes free; ``what`` says what the space is for."""
    folder = Path(folder)
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < needed:
        raise DiskSpaceError(
            f"the run directory {folder} has {free / 2**20:.1f} MiB free but {what} needs about "
            f"{needed / 2**20:.1f} MiB; free space there, lower keep_checkpoints, or write the "
            "run elsewhere (--out)"
        )
