"""CIFAR10-DVS: recordings of CIFAR-10 images (Tonic's AEDAT 4 or the original AEDAT 2.0).

No official split: per class the first ``round(0.9 n)`` recordings by sorted file name
train, the rest test. No file-level twins: every CIFAR-10 image of a class may partner.
"""

from __future__ import annotations

from pathlib import Path

from snn_transfer.events.framing.pipeline import standard_pipeline
from snn_transfer.events.recorded.description import RecordedDataset, StaticSide, missing_root
from snn_transfer.events.recorded.files import EventFiles
from snn_transfer.events.recorded.listing import (
    class_folder_samples,
    first_base,
    load_image_folders,
    per_class_head,
)
from snn_transfer.events.recorded.loader import register_recorded

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


CIFAR10DVS = register_recorded(
    RecordedDataset(
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
