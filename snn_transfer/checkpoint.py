"""Checkpoints that are never half-written, whose damage is detected, and that run no code.

A checkpoint is a ``torch.save`` archive sealed with its SHA-256 (``checkpoint_file``: the
digest sits in the archive's zip comment, so ``torch.load(path, weights_only=True)`` reads
the file as it is). Its state is made of tensors and plain data only (``checkpoint_state``),
and :func:`load_checkpoint` reads it with ``weights_only=True``: a checkpoint someone shared
cannot execute code when it is evaluated. The file is written to a temporary name in the
same folder, flushed to disk and renamed over the old one, and the folder is flushed too, so
a kill at any moment leaves the old file or the new one, each complete. ``rotate`` keeps the
newest few, and :func:`load_newest_intact` falls back to the newest intact one.

Checkpoints of the older formats (a 48-byte header before the archive; before that, a bare
archive with a ``<name>.sha256`` sidecar) are still verified and read, with
``weights_only=True`` and only numpy arrays and the package's frame specs allowed besides
(``checkpoint_state.legacy_globals``), converted to today's plain form on loading.
"""

from __future__ import annotations

import io
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from snn_transfer.atomic import remove_stale_temporaries, write_bytes
from snn_transfer.checkpoint_file import CURRENT, SIDECAR, CheckpointError, read_archive, seal
from snn_transfer.checkpoint_state import check_plain, legacy_globals, to_plain
from snn_transfer.errors import SnnTransferError

__all__ = [
    "CheckpointError",
    "DiskSpaceError",
    "atomic_write_bytes",
    "check_free_space",
    "checkpoint_bytes",
    "checkpoint_intact",
    "encode_checkpoint",
    "load_checkpoint",
    "load_newest_intact",
    "remove_stale_temporaries",
    "rotate",
    "save_checkpoint",
]


class DiskSpaceError(SnnTransferError):
    """The run directory's file system has too little free space, or a write failed."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: ``path`` holds either
    its old bytes or all of ``data``. A failed write (a full disk) removes the temporary file
    and raises :class:`DiskSpaceError` naming ``path``."""
    _write_durably(Path(path), [data])


def _write_durably(path: Path, chunks: Sequence[bytes | memoryview]) -> None:
    """:func:`atomic_write_bytes` of the concatenation of ``chunks`` (not copied into one)."""
    try:
        write_bytes(path, chunks, durable=True)
    except OSError as error:
        size = sum(len(c) for c in chunks)
        raise DiskSpaceError(
            f"cannot write {path} ({size / 2**20:.1f} MiB): {error}; free space on that "
            "file system or choose another output directory; the files already there are intact"
        ) from error


def encode_checkpoint(state: dict[str, Any]) -> list[bytes | memoryview]:
    """The chunks of the checkpoint file of ``state`` (a ``torch.save`` archive and its
    sealing trailer); CheckpointError naming the key if ``state`` holds more than tensors and
    plain data."""
    check_plain(state)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return seal(buffer.getbuffer())


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Serialise ``state`` with ``torch.save``, seal it and write it atomically."""
    path = Path(path)
    _write_durably(path, encode_checkpoint(state))
    # a sidecar left by the oldest format would describe the replaced file
    path.with_name(path.name + SIDECAR).unlink(missing_ok=True)
    return path


def checkpoint_intact(path: str | Path) -> bool:
    """Whether ``path`` exists and matches its checksum (older formats: their header's, their
    ``.sha256`` sidecar's, or without one, whether it is a complete archive)."""
    try:
        read_archive(path)
    except CheckpointError:
        return False
    return True


def _fallback_hint(path: Path, previous: list[Path] | None) -> str:
    others = [p for p in (previous or []) if p != path and p.exists()]
    good = next((p for p in reversed(others) if checkpoint_intact(p)), None)
    if good is not None:
        return f"; the previous good checkpoint is {good} (resume falls back to it)"
    if others:
        return f"; the older checkpoints ({', '.join(p.name for p in others)}) are damaged too"
    return ""


def load_checkpoint(path: str | Path, *, previous: list[Path] | None = None) -> dict[str, Any]:
    """Load a checkpoint after verifying its checksum, with ``weights_only=True``.

    On damage the error names the file, what is wrong and, when given, the newest of
    ``previous`` that is intact (checked, not guessed), or says that none is. A checkpoint
    whose pickle names anything but tensors and plain data (code, for instance) is refused
    without running it.
    """
    path = Path(path)
    try:
        archive, kind = read_archive(path)
    except CheckpointError as error:
        raise CheckpointError(f"{error}{_fallback_hint(path, previous)}") from None
    try:
        if kind == CURRENT:
            return torch.load(io.BytesIO(archive), map_location="cpu", weights_only=True)
        with torch.serialization.safe_globals(legacy_globals()):
            state = torch.load(io.BytesIO(archive), map_location="cpu", weights_only=True)
        return to_plain(state)
    except Exception as error:  # torch raises many types for a bad archive or pickle
        text = str(error)
        if "Weights only load failed" in text or "weights_only" in text:
            found = _unsupported_global(text)
            raise CheckpointError(
                f"checkpoint {path} was refused: its pickle names {found}, but a checkpoint "
                "may hold only tensors and plain data (loading it would run code); nothing of "
                "it was executed. Only load such a file with torch.load(weights_only=False) if "
                "you trust whoever made it"
            ) from None
        hint = _fallback_hint(path, previous)
        raise CheckpointError(f"checkpoint {path} cannot be read: {error}{hint}") from None


def _unsupported_global(text: str) -> str:
    """The name torch's refusal message gives (``Unsupported global: GLOBAL os.system``)."""
    import re

    match = re.search(r"GLOBAL ([\w.]+)", text) or re.search(r"Unsupported [^:]*: ([^\n]+)", text)
    return match.group(1).strip() if match else "something that is not a tensor or plain data"


def rotate(folder: Path, pattern: str, keep: int) -> None:
    """Delete all but the ``keep`` newest files matching ``pattern`` (by name order), and
    the temporary files of killed writers."""
    files = sorted(folder.glob(pattern))
    for old in files[: max(len(files) - keep, 0)]:
        old.unlink(missing_ok=True)
        old.with_name(old.name + SIDECAR).unlink(missing_ok=True)  # oldest format
    remove_stale_temporaries(folder)


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
