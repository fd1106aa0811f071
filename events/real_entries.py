"""Registry entries of recorded datasets read from ATIS, AEDAT and Tonic ``.npy`` files:
N-Caltech101, N-MNIST, CIFAR10-DVS and DVS128 Gesture.

Each lister sorts every listing (numbers in names by value), maps class names to integers
in sorted order and marks each sample's official split; a missing or incomplete root raises
``DatasetError`` with the expected layout and a pointer to ``data/README.md``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from snn_transfer.events.real import (
    RealDataset,
    StaticSide,
    missing_root,
    register_real,
    standard_pipeline,
)
from snn_transfer.events.samples import EventFiles, sorted_files, sorted_folders
from snn_transfer.events.static.images import StaticImages, image_files, layout_error


def first_base(root: Path, candidates: list[Path], has) -> Path | None:
    """The first existing candidate folder for which ``has(folder)`` is true."""
    for folder in candidates:
        if folder.is_dir() and has(folder):
            return folder
    return None


def per_class_head(labels: list[int], share: float) -> list[str]:
    """Official split by position: per class the first ``round(share * n)`` samples (in
    the sorted order given) are "train", the rest "test" (Python's round: halves to even)."""
    labels_array = np.asarray(labels)
    splits = ["test"] * len(labels)
    for c in np.unique(labels_array):
        members = np.flatnonzero(labels_array == c)
        for i in members[: round(share * len(members))]:
            splits[i] = "train"
    return splits


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
        paths += [str(f.relative_to(root)) for f in files]
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
        raise layout_error(what, f"folder {root} does not exist", layout, f"see {'data/README.md'}")
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


# --- N-Caltech101 --------------------------------------------------------------------------

NCALTECH_LAYOUT = """\
  <root>/<class>/image_0001.bin ...            101 class folders, ATIS .bin recordings
  (also <root>/Caltech101/<class>/... or Tonic's <root>/NCALTECH101/Caltech101/<class>/...)
  classes: BACKGROUND_Google, Faces_easy, Leopards, Motorbikes and the 97 lowercase ones;
  a Faces folder is ignored
  static_root (optional): Caltech101's 101_ObjectCategories/<class>/image_0001.jpg"""


def ncaltech_samples(root: Path) -> EventFiles:
    from snn_transfer.events.static import NCALTECH101_CLASSES

    base = first_base(
        root,
        [root, root / "Caltech101", root / "NCALTECH101" / "Caltech101", root / "N-Caltech101"],
        lambda d: any((d / c).is_dir() for c in NCALTECH101_CLASSES),
    )
    if base is None:
        raise missing_root(
            "n-caltech101", root, NCALTECH_LAYOUT, "no N-Caltech101 class folder found"
        )
    paths, labels, names = class_folder_samples(
        "n-caltech101", root, base, NCALTECH101_CLASSES, (".bin",), NCALTECH_LAYOUT
    )
    return EventFiles(
        root,
        paths,
        labels,
        names,
        per_class_head(labels, 0.9),
        NCALTECH101_CLASSES,
        (240, 180, 2),
        "atis",
    )


def _load_caltech(static_root: Path, classes: tuple[str, ...]) -> StaticImages:
    from snn_transfer.events.static import load_caltech101

    return load_caltech101(static_root)


NCALTECH101 = register_real(
    RealDataset(
        name="n-caltech101",
        summary="N-Caltech101 (ATIS .bin, 101 classes) + Caltech101 images",
        layout=NCALTECH_LAYOUT,
        list_samples=ncaltech_samples,
        pipeline=standard_pipeline(shift_xy=True),
        split_rule="per class the first round(0.9 n) recordings by sorted file name train, the "
        "rest test (7,839 / 870 on the full set)",
        time_steps=10,
        size=48,
        augment=("crop",),
        static=StaticSide(
            what="Caltech101 images",
            load=_load_caltech,
            event_key=stem_key,
            static_key=lambda images, i: stem_key(images.names[i]),
        ),
    )
)

# --- N-MNIST ---------------------------------------------------------------------------------

NMNIST_LAYOUT = """\
  <root>/Train/<digit>/<number>.bin   <root>/Test/<digit>/<number>.bin   (ATIS .bin, 34x34)
  (or Tonic's <root>/NMNIST/Train/...); digit folders 0-9
  static_root (optional): MNIST IDX files train-images-idx3-ubyte[.gz] and
  train-labels-idx1-ubyte[.gz]"""


def nmnist_samples(root: Path) -> EventFiles:
    from snn_transfer.events.static import MNIST_CLASSES

    base = first_base(
        root, [root, root / "NMNIST"], lambda d: (d / "Train").is_dir() and (d / "Test").is_dir()
    )
    if base is None:
        raise missing_root("n-mnist", root, NMNIST_LAYOUT, "folders Train and Test not found")
    paths, labels, names, splits = [], [], [], []
    for part, split in (("Train", "train"), ("Test", "test")):
        digits = [
            d
            for d in sorted_folders(base / part)
            if d.name.isascii() and d.name.isdigit() and int(d.name) < 10
        ]
        if len(digits) != 10:
            found = [d.name for d in digits]
            raise missing_root(
                "n-mnist",
                root,
                NMNIST_LAYOUT,
                f"{base / part} has digit folders {found}, expected 0-9",
            )
        for folder in digits:
            files = sorted_files(folder, (".bin",))
            paths += [str(f.relative_to(root)) for f in files]
            labels += [int(folder.name)] * len(files)
            names += [f"{part}/{folder.name}/{f.name}" for f in files]
            splits += [split] * len(files)
    return EventFiles(root, paths, labels, names, splits, MNIST_CLASSES, (34, 34, 2), "atis")


def _nmnist_key(name: str) -> str:
    """N-MNIST ``Train/<d>/<n>.bin`` was recorded from MNIST training image ``n - 1``
    (assumed; checked through the labels when the pool is built)."""
    part, _, file = name.split("/")
    return f"{'train' if part == 'Train' else 'test'}/{int(file.split('.')[0]) - 1:05d}"


def _load_mnist(static_root: Path, classes: tuple[str, ...]) -> StaticImages:
    from snn_transfer.events.static import load_mnist

    return load_mnist(static_root, split="train")


NMNIST = register_real(
    RealDataset(
        name="n-mnist",
        summary="N-MNIST (ATIS .bin, 34x34) + MNIST images",
        layout=NMNIST_LAYOUT,
        list_samples=nmnist_samples,
        pipeline=standard_pipeline(),
        split_rule="official: Train (60,000) / Test (10,000)",
        time_steps=8,
        size=34,
        static=StaticSide(
            what="MNIST images",
            load=_load_mnist,
            event_key=_nmnist_key,
            static_key=lambda images, i: images.names[i],
            prepare=lambda image: np.pad(image, 3),  # the 28x28 digit sits in the 34x34 view
        ),
    )
)

# --- CIFAR10-DVS -----------------------------------------------------------------------------

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"
)  # fmt: skip
CIFAR10DVS_LAYOUT = """\
  <root>/<class>/*.aedat4   (Tonic's AEDAT 4 repackaging; or Tonic's <root>/CIFAR10DVS/<class>/)
  <root>/<class>/*.aedat    (the original AEDAT 2.0 release)
  classes: airplane automobile bird cat deer dog frog horse ship truck (128x128)
  static_root (optional): CIFAR-10 images as <static_root>/<class>/<image>.png"""


def cifar10dvs_samples(root: Path) -> EventFiles:
    base = first_base(
        root, [root, root / "CIFAR10DVS"], lambda d: any((d / c).is_dir() for c in CIFAR10_CLASSES)
    )
    if base is None:
        raise missing_root(
            "cifar10-dvs", root, CIFAR10DVS_LAYOUT, "no CIFAR10-DVS class folder found"
        )
    paths, labels, names = class_folder_samples(
        "cifar10-dvs", root, base, CIFAR10_CLASSES, (".aedat4", ".aedat"), CIFAR10DVS_LAYOUT
    )
    return EventFiles(
        root,
        paths,
        labels,
        names,
        per_class_head(labels, 0.9),
        CIFAR10_CLASSES,
        (128, 128, 2),
        None,
    )


CIFAR10DVS = register_real(
    RealDataset(
        name="cifar10-dvs",
        summary="CIFAR10-DVS (AEDAT 4 from Tonic or the original AEDAT 2.0) + CIFAR-10 images",
        layout=CIFAR10DVS_LAYOUT,
        list_samples=cifar10dvs_samples,
        pipeline=standard_pipeline(),
        split_rule="no official split: per class the first round(0.9 n) recordings by sorted "
        "file name train (900), the rest test (100)",
        time_steps=10,
        size=48,
        augment=("crop", "flip"),
        static=StaticSide(
            what="CIFAR-10 images",
            load=lambda static_root, classes: load_image_folders(
                static_root, classes, "CIFAR-10 images"
            ),
        ),
    )
)

# --- DVS128 Gesture --------------------------------------------------------------------------

GESTURE_CLASSES = (
    "hand_clapping",
    "right_hand_wave",
    "left_hand_wave",
    "right_arm_clockwise",
    "right_arm_counter_clockwise",
    "left_arm_clockwise",
    "left_arm_counter_clockwise",
    "arm_roll",
    "air_drums",
    "air_guitar",
    "other_gestures",
)
GESTURE_LAYOUT = """\
  <root>/ibmGestureTrain/user<NN>_<lighting>/<label>.npy   (Tonic's preprocessed .npy)
  <root>/ibmGestureTest/user<NN>_<lighting>/<label>.npy    (or under <root>/DVSGesture/)
  label = 0-10 (the file name), columns x, y, p, t in ms, 128x128; no static images"""


def gesture_samples(root: Path) -> EventFiles:
    base = first_base(
        root,
        [root, root / "DVSGesture"],
        lambda d: (d / "ibmGestureTrain").is_dir() and (d / "ibmGestureTest").is_dir(),
    )
    if base is None:
        raise missing_root(
            "dvs-gesture", root, GESTURE_LAYOUT, "ibmGestureTrain and ibmGestureTest not found"
        )
    paths, labels, names, splits = [], [], [], []
    for part, split in (("ibmGestureTrain", "train"), ("ibmGestureTest", "test")):
        for user in sorted_folders(base / part):
            for f in sorted_files(user, (".npy",)):
                if not (f.stem.isascii() and f.stem.isdigit()) or int(f.stem) >= len(
                    GESTURE_CLASSES
                ):
                    raise missing_root(
                        "dvs-gesture", root, GESTURE_LAYOUT, f"{f}: name is not a label 0-10"
                    )
                paths.append(str(f.relative_to(root)))
                labels.append(int(f.stem))
                names.append(f"{part}/{user.name}/{f.name}")
                splits.append(split)
    return EventFiles(
        root, paths, labels, names, splits, GESTURE_CLASSES, (128, 128, 2), "gesture-npy"
    )


GESTURE = register_real(
    RealDataset(
        name="dvs-gesture",
        summary="DVS128 Gesture (Tonic's .npy layout, 11 classes), events only",
        layout=GESTURE_LAYOUT,
        list_samples=gesture_samples,
        pipeline=standard_pipeline(),
        split_rule="official: ibmGestureTrain (users 1-23) / ibmGestureTest (users 24-29)",
        time_steps=16,
        size=64,
        augment=("crop",),
    )
)
