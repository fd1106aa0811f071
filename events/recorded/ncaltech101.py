"""N-Caltech101: ATIS ``.bin`` recordings of Caltech101's images, 101 classes, + the images.

Official split: none; per class the first ``round(0.9 n)`` recordings by sorted file name
train, the rest test. Twins: a recording and an image with the same class folder and file
stem show the same picture.
"""

from __future__ import annotations

from pathlib import Path

from snn_transfer.events.framing.pipeline import standard_pipeline
from snn_transfer.events.recorded.description import RecordedDataset, StaticSide, missing_root
from snn_transfer.events.recorded.files import EventFiles
from snn_transfer.events.recorded.listing import (
    class_folder_samples,
    first_base,
    per_class_head,
    stem_key,
)
from snn_transfer.events.recorded.loader import register_recorded
from snn_transfer.events.static import NCALTECH101_CLASSES, load_caltech101
from snn_transfer.events.static.images import StaticImages

NCALTECH_LAYOUT = """\
  <root>/<class>/image_0001.bin ...            101 class folders, ATIS .bin recordings
  (also <root>/Caltech101/<class>/... or Tonic's <root>/NCALTECH101/Caltech101/<class>/...)
  classes: BACKGROUND_Google, Faces_easy, Leopards, Motorbikes and the 97 lowercase ones;
  a Faces folder is ignored
  static_root (optional): Caltech101's 101_ObjectCategories/<class>/image_0001.jpg"""


def ncaltech_samples(root: Path) -> EventFiles:
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
    return load_caltech101(static_root)


NCALTECH101 = register_recorded(
    RecordedDataset(
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
