"""The checkpoint file: a plain ``torch.save`` archive whose zip comment holds its SHA-256.

A checkpoint is the zip archive ``torch.save`` writes, unchanged except for the archive
comment (the last field of the zip's end-of-central-directory record, which zip readers,
``torch.load`` included, skip)::

    <torch.save archive, comment length = 97> b"snn-transfer checkpoint 2 sha256 " <64 hex>

The 64 hex digits are the SHA-256 of every byte before them (the whole archive and the
comment's prefix), so any damaged byte, a truncation or extra bytes at the end are detected,
as strongly as by the header of format 1. Because the file stays a ``torch.save`` archive,
``torch.load(path, weights_only=True)`` reads it without this package.

Older files are still read and verified: format 1 (a 48-byte header ``SNNCKPT1``, payload
length, payload SHA-256, then the archive), and before it the bare archive with a
``<name>.sha256`` sidecar (or, without the sidecar, a complete archive whose members' CRC-32
match). :func:`read_archive` says which of these a file is.
"""

from __future__ import annotations

import hashlib
import io
import struct
from pathlib import Path

from snn_transfer.errors import SnnTransferError

FORMAT_VERSION = 2
#: the comment's text before the digest; the number is the format's version
TRAILER_PREFIX = f"snn-transfer checkpoint {FORMAT_VERSION} sha256 ".encode()
TRAILER_SIZE = len(TRAILER_PREFIX) + 64
#: format 1: magic, payload length in bytes, SHA-256 of the payload
HEADER_V1 = struct.Struct("<8sQ32s")
MAGIC_V1 = b"SNNCKPT1"
SIDECAR = ".sha256"

ZIP_MAGIC = b"PK\x03\x04"
_END_MAGIC = b"PK\x05\x06"
_END_SIZE = 22  # the end-of-central-directory record without its comment
_OURS = b"snn-transfer checkpoint "

#: what :func:`read_archive` found
CURRENT, HEADER, SIDECAR_FILE, BARE = "current", "format 1", "sidecar", "bare archive"


class CheckpointError(SnnTransferError):
    """A checkpoint is missing, truncated, does not match its checksum, or holds more than
    tensors and plain data."""


def damaged(path: Path, reason: str) -> CheckpointError:
    return CheckpointError(f"checkpoint {path} is damaged ({reason})")


def seal(archive: bytes | memoryview) -> list[bytes | memoryview]:
    """The chunks of the checkpoint file of ``archive`` (``torch.save`` bytes, which end with
    an end-of-central-directory record without comment): the archive with its comment length
    set, the trailer's prefix and the digest. Nothing is copied."""
    view = memoryview(archive)
    end = len(view) - _END_SIZE
    if end < 0 or bytes(view[end : end + 4]) != _END_MAGIC or bytes(view[-2:]) != b"\0\0":
        raise ValueError("not a torch.save archive ending with an uncommented zip directory")
    chunks: list[bytes | memoryview] = [
        view[:-2],
        struct.pack("<H", TRAILER_SIZE),
        TRAILER_PREFIX,
    ]
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    chunks.append(digest.hexdigest().encode())
    return chunks


def _end_record(data: bytes) -> tuple[int, int] | None:
    """``(offset, declared comment length)`` of the last end-of-central-directory record."""
    start = max(0, len(data) - (_END_SIZE + 0xFFFF + 4096))
    pos = data.rfind(_END_MAGIC, start)
    if pos < 0 or pos + _END_SIZE > len(data):
        return None
    return pos, struct.unpack_from("<H", data, pos + _END_SIZE - 2)[0]


def _check_trailer(path: Path, data: bytes, pos: int, declared: int) -> bytes:
    """Verify a file that ends with our trailer (format 2); returns ``data``."""
    comment = pos + _END_SIZE
    actual = len(data) - comment
    text = data[comment : comment + len(TRAILER_PREFIX)]
    if text.startswith(_OURS) and len(text) == len(TRAILER_PREFIX) and text != TRAILER_PREFIX:
        version = text[len(_OURS) :].split(b" ")[0].decode("ascii", "replace")
        if version != str(FORMAT_VERSION) and version.isdigit():
            raise damaged(
                path, f"format version {version}, but this snn-transfer reads {FORMAT_VERSION}"
            )
    if actual < TRAILER_SIZE or declared < TRAILER_SIZE:
        raise damaged(path, f"truncated: its checksum trailer is {actual} of {TRAILER_SIZE} bytes")
    if actual > TRAILER_SIZE:
        raise damaged(path, f"has extra bytes: {actual - TRAILER_SIZE} after its checksum trailer")
    if declared != TRAILER_SIZE or data[comment:-64] != TRAILER_PREFIX:
        raise damaged(path, "its checksum trailer is damaged")
    expected = data[-64:].decode("ascii", "replace")
    view = memoryview(data)
    actual_digest = hashlib.sha256(view[:-64]).hexdigest()
    if actual_digest != expected:
        raise damaged(
            path,
            f"checksum mismatch: the file's SHA-256 is {actual_digest[:16]}..., "
            f"its trailer says {expected[:16]}...",
        )
    return data


def _format_1(path: Path, data: bytes) -> bytes:
    """The verified archive inside a format-1 file (48-byte header, then the archive)."""
    if len(data) < HEADER_V1.size:
        what = f"{len(data)} bytes" if data else "an empty file"
        raise damaged(path, f"truncated inside its {HEADER_V1.size}-byte header: {what}")
    _, length, digest = HEADER_V1.unpack_from(data)
    payload = memoryview(data)[HEADER_V1.size :]
    if len(payload) != length:
        what = "truncated" if len(payload) < length else "has extra bytes"
        raise damaged(path, f"{what}: {len(payload)} payload bytes, its header says {length}")
    actual = hashlib.sha256(payload).digest()
    if actual != digest:
        raise damaged(
            path,
            f"checksum mismatch: the payload's SHA-256 is {actual.hex()[:16]}..., "
            f"its header says {digest.hex()[:16]}...",
        )
    return bytes(payload)


def _complete_archive(path: Path, data: bytes) -> None:
    """Refuse an archive that is incomplete or whose members fail their CRC-32."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        raise damaged(path, f"truncated: not a complete archive ({error})") from None
    if bad is not None:
        raise damaged(path, f"member {bad} fails its CRC-32")


def read_archive(path: str | Path) -> tuple[bytes, str]:
    """``(archive bytes, kind)`` of the checkpoint ``path`` after verifying it.

    ``kind`` is :data:`CURRENT` (format 2), :data:`HEADER` (format 1: the archive after its
    header), :data:`SIDECAR_FILE` (a bare archive verified by its ``.sha256`` file) or
    :data:`BARE` (a bare archive without one: complete, every member's CRC-32 right).

    Raises:
        CheckpointError: naming ``path`` and what is wrong (missing, truncated, extra bytes,
            checksum mismatch, not a checkpoint).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except IsADirectoryError:
        raise CheckpointError(f"checkpoint {path} is a folder, not a file") from None
    if not data:
        raise damaged(path, "truncated: an empty file")
    end = _end_record(data)
    comment = b"" if end is None else data[end[0] + _END_SIZE :]
    if comment.startswith(_OURS) or (end is not None and end[1] == TRAILER_SIZE):
        return _check_trailer(path, data, *end), CURRENT
    if data.startswith(MAGIC_V1[:-1]) or (len(data) < HEADER_V1.size and MAGIC_V1.startswith(data)):
        if not data.startswith(MAGIC_V1):
            version = data[len(MAGIC_V1) - 1 : len(MAGIC_V1)].decode("ascii", "replace")
            raise damaged(path, f"format version {version}, but this snn-transfer reads 1 and 2")
        return _format_1(path, data), HEADER
    if not data.startswith(ZIP_MAGIC):
        raise damaged(
            path,
            f"not a checkpoint: it starts with {data[:8]!r}, not a zip archive's {ZIP_MAGIC!r}",
        )
    if comment:
        raise damaged(path, "its checksum trailer is damaged")
    sidecar = path.with_name(path.name + SIDECAR)
    if sidecar.is_file():
        if hashlib.sha256(data).hexdigest() != sidecar.read_text().strip():
            raise damaged(
                path, f"checksum mismatch with {sidecar.name} (older format), {len(data)} bytes"
            )
        return data, SIDECAR_FILE
    _complete_archive(path, data)
    return data, BARE
