"""Atomic file writing: a file appears under its name only when it is complete.

Every writer of the package (event files, event datasets, frame caches, preloaded frames,
static planes, checkpoints, run files) writes to a temporary name next to the target,
``.<name>.<pid>.tmp``, and renames it onto the target when the write succeeded; a failed
write deletes the temporary file and leaves the target as it was. With ``durable=True`` the
file is flushed to disk before the rename and the folder after it, so a power loss too
leaves the old or the new file, each complete. The process id in the name keeps writers of
the same file in several processes apart, and tells :func:`remove_stale_temporaries` which
temporary files a killed writer left behind.

Imports nothing heavy: the data layer and the trainer both use it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

TEMPORARY_GLOB = ".*.tmp"


def temporary_path(path: str | Path) -> Path:
    """The temporary name this process writes ``path`` under: ``.<name>.<pid>.tmp``."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextlib.contextmanager
def atomic_output(path: str | Path, *, durable: bool = False) -> Iterator[Path]:
    """Yield a temporary name next to ``path``; rename it onto ``path`` on success.

    The caller writes the whole file under the yielded name (``open``, ``h5py.File``,
    ``np.save``). On an exception the temporary file is removed and ``path`` is left
    untouched. ``durable``: flush the file to disk before the rename and the folder after it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(path)
    try:
        yield temporary
        if durable:
            with open(temporary, "rb") as file:
                os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    if durable:
        fsync_directory(path.parent)


def write_bytes(path: str | Path, chunks: Iterable[bytes], *, durable: bool = True) -> None:
    """Write the concatenation of ``chunks`` (not copied into one) to ``path`` atomically."""
    with atomic_output(path, durable=durable) as temporary, open(temporary, "wb") as file:
        for chunk in chunks:
            file.write(chunk)


def save_array(path: str | Path, array: Any) -> None:
    """``np.save`` of ``array`` to ``path`` (a ``.npy`` file) atomically."""
    import numpy as np

    with atomic_output(path) as temporary, open(temporary, "wb") as file:
        np.save(file, array)


def fsync_directory(folder: Path) -> None:
    """Make a rename in ``folder`` survive a power loss. Where a folder cannot be opened or
    flushed (Windows, some network file systems) the rename is left to the system."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temporaries(folder: str | Path, pattern: str = TEMPORARY_GLOB) -> list[Path]:
    """Delete the temporary files (``pattern``) in ``folder`` whose writing process no longer
    runs: a kill mid-write leaves them, and the file they were replacing is intact. Files of
    this process and of running processes are kept. Returns those deleted."""
    removed = []
    for temporary in sorted(Path(folder).glob(pattern)):
        pid = temporary.name.rsplit(".", 2)[-2]
        if not pid.isascii() or not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # still running (another writer)
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError):
            continue
        temporary.unlink(missing_ok=True)
        removed.append(temporary)
    return removed
