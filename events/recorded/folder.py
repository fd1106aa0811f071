"""``folder``: your own recordings, a folder of event files per class (+ optional images).

``root/<class>/<recording>`` in any supported format, split per class (the last
``max(1, round(test_fraction n))`` files by sorted name test), or ``root/train/<class>/``
and ``root/test/<class>/`` for your own split. Static images in
``static_root/<class>/``; an image named like a recording (same class and file stem) is its
twin and never partners when that recording is held out.
"""

from __future__ import annotations

from pathlib import Path

from snn_transfer.errors import ConfigError, EventFormatError
from snn_transfer.events.checks import fraction
from snn_transfer.events.framing.pipeline import standard_pipeline
from snn_transfer.events.io.formats import FORMATS, detect_format
from snn_transfer.events.recorded.description import RecordedDataset, StaticSide, missing_root
from snn_transfer.events.recorded.files import EventFiles
from snn_transfer.events.recorded.listing import (
    class_folder_samples,
    load_image_folders,
    sorted_folders,
    stem_key,
)
from snn_transfer.events.recorded.loader import register_recorded
from snn_transfer.events.splits import per_class_parts

EVENT_SUFFIXES = (".bin", ".aedat4", ".aedat", ".npy", ".h5", ".hdf5")
FOLDER_LAYOUT = """\
  <root>/<class>/<recording>     one folder per class, any supported format
  or <root>/train/<class>/... and <root>/test/<class>/...   (your own split)
  static_root (optional): <static_root>/<class>/<image>; an image named like a recording
  (same class and file stem) is its twin and never partners when that recording is held out"""


def _tail_test(labels: list[int], share: float) -> list[str]:
    """Per class the last ``max(1, round(share * n))`` files test (none when n = 1)."""

    def train_size(n: int) -> list[int]:
        return [n - (0 if n < 2 else max(1, round(share * n)))]

    return per_class_parts(labels, train_size, ("train", "test"))


def folder_samples(root: Path, sensor_size=None, format=None, test_fraction=0.1) -> EventFiles:
    if not root.is_dir():
        raise missing_root("folder", root, FOLDER_LAYOUT, f"folder {root} does not exist")
    split_folders = (root / "train").is_dir() and (root / "test").is_dir()
    bases = (
        [(root / "train", "train"), (root / "test", "test")] if split_folders else [(root, None)]
    )
    classes = tuple(sorted({d.name for base, _ in bases for d in sorted_folders(base)}))
    if not classes:
        raise missing_root("folder", root, FOLDER_LAYOUT, "no class folders")
    paths, labels, names, splits = [], [], [], []
    for base, split in bases:
        p, lab, nam = class_folder_samples(
            "folder", root, base, classes, EVENT_SUFFIXES, FOLDER_LAYOUT, strict=False
        )
        paths += p
        labels += lab
        names += nam
        if split is None:
            splits += _tail_test(lab, fraction("test_fraction", test_fraction))
        else:
            splits += [split] * len(p)
    if not paths:
        raise missing_root("folder", root, FOLDER_LAYOUT, "no event files in the class folders")
    if sensor_size is not None:
        sensor = (int(sensor_size[0]), int(sensor_size[1]), 2)
    else:
        sensor = None
        for path in paths:  # the first file that declares one (damaged files are skipped)
            try:
                sensor = FORMATS[format or detect_format(root / path)].declared_sensor(root / path)
            except EventFormatError:
                continue
            if sensor is not None:
                break
        if sensor is None:
            raise ConfigError(
                f"{root}: the event files declare no sensor size; pass sensor_size=(W, H) "
                "(--sensor W H)"
            )
        sensor = (int(sensor[0]), int(sensor[1]), 2)
    return EventFiles(root, paths, labels, names, splits, classes, sensor, format)


FOLDER = register_recorded(
    RecordedDataset(
        name="folder",
        summary="your own recordings: a folder of event files per class (+ optional images)",
        layout=FOLDER_LAYOUT,
        list_samples=folder_samples,
        pipeline=standard_pipeline(),
        split_rule="root/train and root/test if present, else per class the last "
        "max(1, round(test_fraction n)) files by sorted name test, the rest train",
        time_steps=10,
        size=48,
        static=StaticSide(
            what="class-folder images",
            load=lambda static_root, classes: load_image_folders(
                static_root, classes, "class-folder images"
            ),
            event_key=lambda name: stem_key(name),
            static_key=lambda images, i: stem_key(images.names[i]),
            twins_only=False,
        ),
        extra={"sensor_size": None, "format": None, "test_fraction": 0.1},
    )
)
