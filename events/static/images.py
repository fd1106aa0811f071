"""``StaticImages``: a labelled, ordered collection of static images, in memory or on disk.

Every static-image loader returns one. Images come back as numpy ``uint8`` arrays, ``[H, W]``
for gray images and ``[H, W, 3]`` for RGB; folder datasets keep only the file paths and open
an image when it is asked for, IDX and scikit-learn sets hold one ``[N, H, W]`` array.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from snn_transfer.errors import DatasetError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".ppm", ".pgm")


class StaticImages:
    """Images with integer labels, class names and a stable per-image name.

    Args:
        labels: one class index per image, ``0 <= label < len(classes)``.
        classes: class names; the index of a name is its label.
        names: one identifier per image (relative file path or ``split/index``), used for
            sorting, splitting and reports.
        arrays: ``uint8 [N, H, W]`` or ``[N, H, W, 3]`` for in-memory sets.
        paths: one image file per entry for folder sets (read lazily with Pillow).
        attributes: optional per-image arrays of length N (e.g. Omniglot's ``drawer``), sliced
            along by :meth:`subset`.
        source: a short description (dataset and root) shown in ``repr`` and errors.

    Exactly one of ``arrays`` and ``paths`` is given.
    """

    def __init__(
        self,
        *,
        labels: Sequence[int] | np.ndarray,
        classes: Sequence[str],
        names: Sequence[str],
        arrays: np.ndarray | None = None,
        paths: Sequence[Path] | None = None,
        attributes: Mapping[str, np.ndarray] | None = None,
        source: str = "",
    ) -> None:
        if (arrays is None) == (paths is None):
            raise ValueError("give exactly one of arrays and paths")
        self.labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        self.classes = list(classes)
        self.names = list(names)
        self.arrays = arrays
        self.paths = None if paths is None else [Path(p) for p in paths]
        self.attributes = {k: np.asarray(v) for k, v in (attributes or {}).items()}
        self.source = source
        n = len(self.labels)
        sizes = {"names": len(self.names)}
        sizes["arrays" if arrays is not None else "paths"] = (
            len(arrays) if arrays is not None else len(self.paths)
        )
        sizes.update({f"attributes[{k!r}]": len(v) for k, v in self.attributes.items()})
        for what, size in sizes.items():
            if size != n:
                raise ValueError(f"{what} has {size} entries, labels has {n}")
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.classes)):
            raise ValueError(f"labels must lie in [0, {len(self.classes)})")

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        """``(image, label)``: ``uint8 [H, W]`` or ``[H, W, 3]`` and an int."""
        return self.image(index), int(self.labels[index])

    def __repr__(self) -> str:
        where = "in memory" if self.arrays is not None else "on disk"
        return (
            f"StaticImages({len(self)} images, {len(self.classes)} classes, {where}"
            + (f", {self.source}" if self.source else "")
            + ")"
        )

    @property
    def in_memory(self) -> bool:
        return self.arrays is not None

    def image(self, index: int) -> np.ndarray:
        """Image ``index`` as ``uint8 [H, W]`` (gray) or ``[H, W, 3]`` (RGB)."""
        index = int(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"image index {index} out of range for {len(self)} images")
        if self.arrays is not None:
            return self.arrays[index]
        return read_image(self.paths[index])

    def subset(self, indices: Sequence[int] | np.ndarray) -> StaticImages:
        """The images at ``indices`` (ints or a boolean mask), in that order, same classes."""
        idx = np.asarray(indices)
        if idx.dtype == np.bool_:
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64).reshape(-1)
        return StaticImages(
            labels=self.labels[idx],
            classes=self.classes,
            names=[self.names[i] for i in idx],
            arrays=None if self.arrays is None else self.arrays[idx],
            paths=None if self.paths is None else [self.paths[i] for i in idx],
            attributes={k: v[idx] for k, v in self.attributes.items()},
            source=self.source,
        )

    def indices_of(self, label: int) -> np.ndarray:
        """Positions of the images of class ``label``, ascending (int64)."""
        return np.flatnonzero(self.labels == label)

    def class_counts(self) -> np.ndarray:
        """Number of images per class, ``int64 [len(classes)]``."""
        return np.bincount(self.labels, minlength=len(self.classes))


def read_image(path: Path) -> np.ndarray:
    """Open an image file as ``uint8 [H, W]`` (gray and bilevel files) or ``[H, W, 3]``.

    Palette, alpha and CMYK images become RGB; 16-bit and 32-bit gray images keep their top
    8 bits. A file Pillow cannot decode raises ``DatasetError`` naming it.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("L", "1", "LA"):
                img = img.convert("L")
            elif img.mode in ("I", "I;16", "I;16B", "I;16L"):
                wide = np.asarray(img, dtype=np.int64)
                return (wide >> (16 if img.mode == "I" else 8)).clip(0, 255).astype(np.uint8)
            elif img.mode != "RGB":
                img = img.convert("RGB")
            return np.asarray(img, dtype=np.uint8).copy()
    except (OSError, UnidentifiedImageError, SyntaxError) as err:
        raise DatasetError(
            f"{path}: cannot read this image file ({err}); re-extract the dataset or delete "
            "the damaged file"
        ) from err


def natural_key(name: str) -> tuple:
    """Sort key that orders embedded numbers by value: ``img2`` before ``img10``.

    The numbers are exactly the parts ``re.split`` isolates (odd positions), so text and
    numbers never meet at one position, and characters such as ``²`` (``isdigit`` but not
    a decimal ``int`` accepts) stay text.
    """
    parts = re.split(r"(\d+)", name)
    return tuple(int(part) if i % 2 else part for i, part in enumerate(parts))


def image_files(folder: Path) -> list[Path]:
    """The image files directly inside ``folder`` (by suffix, any case), sorted by name."""
    return sorted(
        (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
        key=lambda p: p.name,
    )


def subfolders(folder: Path) -> list[Path]:
    """Non-hidden subfolders of ``folder``, sorted by name (code-point order, like ``sorted``)."""
    return sorted(
        (p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )


def layout_error(dataset: str, problem: str, layout: str, fix: str) -> DatasetError:
    """A ``DatasetError`` whose message states the problem, the expected layout and the fix."""
    return DatasetError(f"{dataset}: {problem}\nexpected layout:\n{layout.rstrip()}\nfix: {fix}")
