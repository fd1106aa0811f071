"""N-MNIST: ATIS ``.bin`` recordings (34x34) of MNIST's digits, + the MNIST images.

Official split: Train (60,000) / Test (10,000). Twins: ``Train/<d>/<n>.bin`` was recorded
from MNIST training image ``n - 1`` (checked through the labels when the pool is built).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from snn_transfer.events.framing.pipeline import standard_pipeline
from snn_transfer.events.recorded.description import RecordedDataset, StaticSide, missing_root
from snn_transfer.events.recorded.files import EventFiles
from snn_transfer.events.recorded.listing import (
    first_base,
    relative_paths,
    sorted_files,
    sorted_folders,
)
from snn_transfer.events.recorded.loader import register_recorded
from snn_transfer.events.static import MNIST_CLASSES, load_mnist
from snn_transfer.events.static.images import StaticImages

NMNIST_LAYOUT = """\
  <root>/Train/<digit>/<number>.bin   <root>/Test/<digit>/<number>.bin   (ATIS .bin, 34x34)
  (or Tonic's <root>/NMNIST/Train/...); digit folders 0-9
  static_root (optional): MNIST IDX files train-images-idx3-ubyte[.gz] and
  train-labels-idx1-ubyte[.gz]"""


def nmnist_samples(root: Path) -> EventFiles:
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
            paths += relative_paths(files, root)
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
    return load_mnist(static_root, split="train")


NMNIST = register_recorded(
    RecordedDataset(
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
