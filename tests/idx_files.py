"""Writing MNIST-format IDX files (plain or gzip) for the tests of the IDX-based loaders."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array: magic (0, 0, 0x08, ndim), big-endian dims, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return header + np.asarray(array).astype(np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write ``array`` to ``path``, gzip-compressed when the name ends in ``.gz``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def write_idx_pair(folder: Path, split: str, images, labels, *, gz: bool = True) -> Path:
    """``folder/{split}-images-idx3-ubyte[.gz]`` and the matching labels file."""
    ext = ".gz" if gz else ""
    write_idx(Path(folder) / f"{split}-images-idx3-ubyte{ext}", images)
    write_idx(Path(folder) / f"{split}-labels-idx1-ubyte{ext}", labels)
    return Path(folder)
