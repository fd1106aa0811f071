"""Checkpoints that are never half-written and whose damage is detected.

A checkpoint is written to a temporary file in the same folder, flushed to disk and renamed
into place; a SHA-256 of its bytes is stored next to it (``<name>.sha256``) and checked when
it is loaded. ``rotate`` keeps the newest few.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import torch

from snn_transfer.errors import SnnTransferError


class CheckpointError(SnnTransferError):
    """A checkpoint is missing, truncated or does not match its checksum."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


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


def load_checkpoint(path: str | Path, *, previous: list[Path] | None = None) -> dict[str, Any]:
    """Load a checkpoint after verifying its checksum.

    On damage the error names the file and, when given, the newest other checkpoint to use.
    """
    path = Path(path)
    hint = ""
    others = [p for p in (previous or []) if p != path and p.exists()]
    if others:
        hint = f"; the previous good checkpoint may be {others[-1]}"
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
