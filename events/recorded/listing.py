"""Listing helpers the recorded datasets share: sorted files and folders, class folders,
official splits by position, twin keys and class-folder images.

Every listing is sorted (numbers in names by value, ``img2`` before ``img10``), so splits
depend on the files alone, never on the file system's listing order.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from snn_transfer.events.recorded.description import DATA_README, missing_root
from snn_transfer.events.splits import per_class_parts
from snn_transfer.events.static.images import StaticImages, image_files, layout_error, natural_key


def sorted_files(folder: Path, suffixes: Sequence[str]) -> list[Path]:
    """Files directly in ``folder`` whose suffix (lower case) is in ``suffixes``, sorted by
    name with numbers compared by value (``img2`` before ``img10``; zero-padded names sort
    as plain strings do)."""
    # the directory entries tell regular files apart without a stat per file
    with os.scandir(folder) as entries:
        names = [
            e.name
            for e in entries
            if os.path.splitext(e.name)[1].lower() in suffixes and e.is_file()
        ]
    return [folder / name for name in sorted(names, key=natural_key)]


def relative_paths(files: Sequence[Path], root: Path) -> list[str]:
    """``str(f.relative_to(root))`` of files that share one folder, computed once for it."""
    if not files:
        return []
    folder = str(files[0].parent.relative_to(root))
    return [os.path.join(folder, f.name) for f in files]


def sorted_folders(folder: Path) -> list[Path]:
    """Non-hidden subfolders of ``folder``, sorted like :func:`sorted_files`."""
    return sorted(
        (p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: natural_key(p.name),
    )


def first_base(root: Path, candidates: list[Path], has: Callable[[Path], bool]) -> Path | None:
    """The first existing candidate folder for which ``has(folder)`` is true."""
    for folder in candidates:
        if folder.is_dir() and has(folder):
            return folder
    return None


def per_class_head(labels: list[int], share: float) -> list[str]:
    """Official split by position: per class the first ``round(share * n)`` samples (in
    the sorted order given) are "train", the rest "test" (Python's round: halves to even)."""
    return per_class_parts(labels, lambda n: [round(share * n)], ("train", "test"))


def class_folder_samples(
    name: str,
    root: Path,
    base: Path,
    classes: tuple[str, ...],
    suffixes: tuple[str, ...],
    layout: str,
    *,
    strict: bool = True,
) -> tuple[list[str], list[int], list[str]]:
    """Paths (relative to ``root``), labels and names ``<class>/<file>`` of the files with
    ``suffixes`` in ``base/<class>/``; with ``strict`` every class must have files."""
    paths, labels, names, empty = [], [], [], []
    for label, cls in enumerate(classes):
        folder = base / cls
        files = sorted_files(folder, suffixes) if folder.is_dir() else []
        if not files:
            empty.append(cls)
        paths += relative_paths(files, root)
        labels += [label] * len(files)
        names += [f"{cls}/{f.name}" for f in files]
    if empty and strict:
        shown = ", ".join(empty[:8]) + (f" and {len(empty) - 8} more" if len(empty) > 8 else "")
        raise missing_root(
            name,
            root,
            layout,
            f"{len(empty)} of {len(classes)} classes have no files under {base}: {shown}",
        )
    return paths, labels, names


def stem_key(name: str) -> str:
    """``"<class>/<file>.<ext>"`` -> ``"<class>/<file>"``: the twin key of class folders."""
    return name.rsplit(".", 1)[0] if "." in name.rsplit("/", 1)[-1] else name


def load_image_folders(root: Path, classes: tuple[str, ...], what: str) -> StaticImages:
    """Images in ``root/<class>/`` for the given classes (files sorted by name); every class
    needs at least one image. Names ``"<class>/<file>"``."""
    layout = "  <static_root>/<class>/<image>.{jpg,png,...}   (one folder per event class)"
    if not root.is_dir():
        raise layout_error(what, f"folder {root} does not exist", layout, f"see {DATA_README}")
    paths, labels, names, empty = [], [], [], []
    for label, cls in enumerate(classes):
        files = image_files(root / cls) if (root / cls).is_dir() else []
        empty += [] if files else [cls]
        paths += files
        labels += [label] * len(files)
        names += [f"{cls}/{f.name}" for f in files]
    if empty:
        raise layout_error(
            what, f"no images for classes {empty[:8]} under {root}", layout, "add the class folders"
        )
    return StaticImages(
        labels=labels, classes=classes, names=names, paths=paths, source=f"{what} at {root}"
    )
