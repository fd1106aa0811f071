"""Checkpoints that are never half-written and whose damage is detected.

A checkpoint is ONE self-checking file: a 48-byte header followed by the ``torch.save``
bytes (the payload). The header holds :data:`MAGIC` (the format and its version), the
payload's length (uint64, little-endian) and the payload's SHA-256; reading checks all three.
The file is written to a temporary name in the same folder, flushed to disk and renamed over
the old one, and the folder is flushed too, so a kill at any moment leaves the old file or
the new one, each complete. ``rotate`` keeps the newest few.

Checkpoints of the older format (the bare ``torch.save`` archive with a ``<name>.sha256``
sidecar holding its digest) are still read and verified.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import struct
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from snn_transfer.atomic import remove_stale_temporaries, write_bytes
from snn_transfer.errors import SnnTransferError

#: first 8 bytes of every checkpoint: the format's name and version
MAGIC = b"SNNCKPT1"
#: magic, payload length in bytes, SHA-256 of the payload
HEADER = struct.Struct("<8sQ32s")
#: how a ``torch.save`` archive (a zip file) begins: a checkpoint of the older format
_ZIP_MAGIC = b"PK\x03\x04"
_SIDECAR = ".sha256"


class CheckpointError(SnnTransferError):
    """A checkpoint is missing, truncated or does not match its checksum."""


class DiskSpaceError(SnnTransferError):
    """The run directory's file system has too little free space, or a write failed."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: ``path`` holds either
    its old bytes or all of ``data``. A failed write (a full disk) removes the temporary file
    and raises :class:`DiskSpaceError` naming ``path``."""
    _write_durably(Path(path), [data])


def _write_durably(path: Path, chunks: Sequence[bytes]) -> None:
    """:func:`atomic_write_bytes` of the concatenation of ``chunks`` (not copied into one)."""
    try:
        write_bytes(path, chunks, durable=True)
    except OSError as error:
        size = sum(len(c) for c in chunks)
        raise DiskSpaceError(
            f"cannot write {path} ({size / 2**20:.1f} MiB): {error}; free space on that "
            "file system or choose another output directory; the files already there are intact"
        ) from error


def encode_checkpoint(state: dict[str, Any]) -> tuple[bytes, bytes]:
    """``(header, payload)``: the two parts of the checkpoint file of ``state``."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    return HEADER.pack(MAGIC, len(payload), hashlib.sha256(payload).digest()), payload


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Serialise ``state`` with ``torch.save`` and write it, with its header, atomically."""
    path = Path(path)
    _write_durably(path, encode_checkpoint(state))
    # a sidecar left by the older format would describe the replaced file
    path.with_name(path.name + _SIDECAR).unlink(missing_ok=True)
    return path


def read_payload(path: str | Path) -> bytes:
    """The verified ``torch.save`` bytes of the checkpoint ``path``.

    Raises:
        CheckpointError: naming ``path`` and what is wrong (missing, truncated, extra bytes,
            checksum mismatch, not a checkpoint).
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(HEADER.size)
            if head.startswith(_ZIP_MAGIC):
                return _legacy_payload(path, head + f.read())
            if len(head) < HEADER.size and MAGIC.startswith(head[: len(MAGIC)]):
                what = f"{len(head)} bytes" if head else "an empty file"
                raise _damaged(path, f"truncated inside its {HEADER.size}-byte header: {what}")
            if head[: len(MAGIC)] != MAGIC:
                raise _damaged(path, _wrong_magic(head))
            _, length, digest = HEADER.unpack(head)
            payload = f.read()
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except IsADirectoryError:
        raise CheckpointError(f"checkpoint {path} is a folder, not a file") from None
    if len(payload) != length:
        what = "truncated" if len(payload) < length else "has extra bytes"
        raise _damaged(path, f"{what}: {len(payload)} payload bytes, its header says {length}")
    actual = hashlib.sha256(payload).digest()
    if actual != digest:
        raise _damaged(
            path,
            f"checksum mismatch: the payload's SHA-256 is {actual.hex()[:16]}..., "
            f"its header says {digest.hex()[:16]}...",
        )
    return payload


def _damaged(path: Path, reason: str) -> CheckpointError:
    return CheckpointError(f"checkpoint {path} is damaged ({reason})")


def _wrong_magic(head: bytes) -> str:
    if head.startswith(MAGIC[:-1]):
        version = head[len(MAGIC) - 1 : len(MAGIC)].decode("ascii", "replace")
        return (
            f"format version {version}, but this snn-transfer reads version {MAGIC[-1:].decode()}"
        )
    return f"wrong magic: it starts with {head[: len(MAGIC)]!r}, not {MAGIC!r}"


def _legacy_payload(path: Path, data: bytes) -> bytes:
    """A checkpoint of the older format: verified against its ``.sha256`` sidecar, or, with
    none, checked to be a complete zip archive (each member has a CRC)."""
    sidecar = path.with_name(path.name + _SIDECAR)
    if sidecar.is_file():
        expected = sidecar.read_text().strip()
        if hashlib.sha256(data).hexdigest() != expected:
            raise _damaged(
                path, f"checksum mismatch with {sidecar.name} (older format), {len(data)} bytes"
            )
        return data
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        bad = str(error) or type(error).__name__
    if bad is not None:
        raise _damaged(
            path, f"older format without its {_SIDECAR} file, and not a complete archive: {bad}"
        )
    return data


def checkpoint_intact(path: str | Path) -> bool:
    """Whether ``path`` exists and its header's length and checksum match its payload (older
    format: its ``.sha256`` sidecar, or without one, whether it is a complete archive)."""
    try:
        read_payload(path)
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
    """Load a checkpoint after verifying its header (length and checksum).

    On damage the error names the file, what is wrong and, when given, the newest of
    ``previous`` that is intact (checked, not guessed), or says that none is.
    """
    path = Path(path)
    try:
        payload = read_payload(path)
    except CheckpointError as error:
        raise CheckpointError(f"{error}{_fallback_hint(path, previous)}") from None
    try:
        return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=False)
    except Exception as error:  # torch raises many types for a bad archive
        hint = _fallback_hint(path, previous)
        raise CheckpointError(f"checkpoint {path} cannot be read: {error}{hint}") from None


def rotate(folder: Path, pattern: str, keep: int) -> None:
    """Delete all but the ``keep`` newest files matching ``pattern`` (by name order), and
    the temporary files of killed writers."""
    files = sorted(folder.glob(pattern))
    for old in files[: max(len(files) - keep, 0)]:
        old.unlink(missing_ok=True)
        old.with_name(old.name + _SIDECAR).unlink(missing_ok=True)  # older format
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
