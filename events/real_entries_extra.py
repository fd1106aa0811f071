"""Registry entries without a Tonic class: N-Omniglot, CEP-DVS, and ``folder`` (your data).

The on-disk formats of N-Omniglot and CEP-DVS follow the readers of their authors
(BrainCog); what each lister assumes is stated in its layout text and in
``data/README.md``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from snn_transfer.errors import ConfigError, EventFormatError
from snn_transfer.events.real import (
    RealDataset,
    StaticSide,
    missing_root,
    register_real,
    standard_pipeline,
)
from snn_transfer.events.real_entries import (
    class_folder_samples,
    first_base,
    load_image_folders,
    stem_key,
)
from snn_transfer.events.samples import MAT_FORMAT, EventFiles, sorted_files, sorted_folders

# --- N-Omniglot ------------------------------------------------------------------------------

OMNIGLOT_SETS = ("background", "evaluation")
NOMNIGLOT_LAYOUT = """\
  <root>/dvs_background/<alphabet>/<character>/<NNNN>.aedat4 + <NNNN>.csv
  <root>/dvs_evaluation/<alphabet>/<character>/<NNNN>.aedat4 + <NNNN>.csv
  one AEDAT 4 recording (DAVIS346, 346x260) per character holding its 20 drawings; the csv
  (one header line) gives per drawing: <id>,<start_us>,<end_us> (assumed, as BrainCog reads it)
  static_root (optional): Omniglot's images_background/ and images_evaluation/
  (torchvision's layout)"""


def _drawing_windows(table: Path) -> list[tuple[int, int]]:
    """``[start, end)`` microseconds of each drawing: columns 1 and 2 after a header."""
    with open(table, newline="", encoding="utf-8", errors="replace") as file:
        rows = list(csv.reader(file))[1:]
    windows = []
    for number, row in enumerate(rows, start=2):
        if not row:
            continue
        try:
            windows.append((int(float(row[1])), int(float(row[2]))))
        except (IndexError, ValueError):
            raise missing_root(
                "n-omniglot",
                table.parent,
                NOMNIGLOT_LAYOUT,
                f"{table} line {number}: expected <id>,<start_us>,<end_us>",
            ) from None
    return windows


def nomniglot_samples(root: Path) -> EventFiles:
    base = first_base(
        root,
        [root, root / "NOmniglot", root / "N-Omniglot"],
        lambda d: all((d / f"dvs_{s}").is_dir() for s in OMNIGLOT_SETS),
    )
    if base is None:
        raise missing_root(
            "n-omniglot", root, NOMNIGLOT_LAYOUT, "dvs_background and dvs_evaluation not found"
        )
    paths, labels, names, splits, windows, classes = [], [], [], [], [], []
    for kind in OMNIGLOT_SETS:
        for alphabet in sorted_folders(base / f"dvs_{kind}"):
            for character in sorted_folders(alphabet):
                recordings = sorted_files(character, (".aedat4",))
                tables = sorted_files(character, (".csv",))
                if len(recordings) != 1 or len(tables) != 1:
                    problem = (
                        f"{character} holds {len(recordings)} .aedat4 and {len(tables)} .csv "
                        "files, expected one each"
                    )
                    raise missing_root("n-omniglot", root, NOMNIGLOT_LAYOUT, problem)
                label = len(classes)
                classes.append(f"{alphabet.name}/{character.name}")
                relative = str(recordings[0].relative_to(root))
                for drawer, window in enumerate(_drawing_windows(tables[0])):
                    paths.append(relative)
                    labels.append(label)
                    names.append(f"{recordings[0].relative_to(base)}#{drawer:02d}")
                    splits.append("train" if drawer < 15 else "test")
                    windows.append(window)
    if not paths:
        raise missing_root(
            "n-omniglot", root, NOMNIGLOT_LAYOUT, "no character folders with recordings"
        )
    return EventFiles(
        root, paths, labels, names, splits, tuple(classes), (346, 260, 2), "aedat4", windows
    )


def _nomniglot_key(name: str) -> str:
    path, drawer = name.rsplit("#", 1)
    kind, alphabet, character = path.split("/")[:3]
    return f"{kind.removeprefix('dvs_')}/{alphabet}/{character}/{int(drawer)}"


def _omniglot_key(images, i: int) -> str:
    kind = OMNIGLOT_SETS[int(images.attributes["set"][i])]
    return f"{kind}/{images.classes[images.labels[i]]}/{int(images.attributes['drawer'][i])}"


def _omniglot_pipeline(mode: str, steps: int, size, sensor):
    from snn_transfer.events.frame_specs import FramePipeline, FrequencyFrames

    return FramePipeline(FrequencyFrames(steps, sensor_size=tuple(sensor), size=size))


def _load_omniglot(static_root: Path, classes: tuple[str, ...]):
    from snn_transfer.events.static import load_omniglot

    return load_omniglot(static_root)


NOMNIGLOT = register_real(
    RealDataset(
        name="n-omniglot",
        summary="N-Omniglot (AEDAT 4 + drawing csv, 1,623 characters x 20 drawers) + Omniglot",
        layout=NOMNIGLOT_LAYOUT,
        list_samples=nomniglot_samples,
        pipeline=_omniglot_pipeline,
        split_rule="official: drawers 0-14 of every character train, 15-19 test",
        time_steps=12,
        size=28,
        static=StaticSide(
            what="Omniglot drawings",
            load=_load_omniglot,
            event_key=_nomniglot_key,
            static_key=_omniglot_key,
        ),
    )
)

# --- CEP-DVS ---------------------------------------------------------------------------------

CEPDVS_LAYOUT = """\
  <root>/data/MAT/img/<n>.mat   one recording per sample n (variables x, y, ts in us, p in {-1, 1})
  <root>/pathFile.csv           one header line, then line n describes sample n; its 5th
                                whitespace-separated token is the CIFAR-100 super-class
  <root>/data/img/<n>.<jpg|png> the source images (the static side; static_root defaults to root)
  (assumed from BrainCog's CEP-DVS reader; the sensor size is not fixed: frames span each
  recording's own extent unless sensor_size=(W, H) is given)"""


def _cepdvs_table(root: Path) -> list[str]:
    for table in (root / "pathFile.csv", root / "data" / "pathFile.csv"):
        if table.is_file():
            return table.read_text(encoding="utf-8", errors="replace").splitlines()[1:]
    raise missing_root("cep-dvs", root, CEPDVS_LAYOUT, "pathFile.csv not found")


def cepdvs_samples(root: Path, sensor_size=None) -> EventFiles:
    from snn_transfer.events.static import CEPDVS_CLASSES

    folder = first_base(
        root,
        [root / "data" / "MAT" / "img", root / "MAT" / "img", root / "data" / "MAT", root / "mat"],
        lambda d: bool(sorted_files(d, (".mat",))),
    )
    if folder is None:
        raise missing_root("cep-dvs", root, CEPDVS_LAYOUT, "no .mat recordings found")
    lines = _cepdvs_table(root)
    index = {c: i for i, c in enumerate(CEPDVS_CLASSES)}
    files = [f for f in sorted_files(folder, (".mat",)) if f.stem.isascii() and f.stem.isdigit()]
    files.sort(key=lambda f: int(f.stem))
    labels = []
    for f in files:
        n = int(f.stem)
        tokens = lines[n].split() if n < len(lines) else []
        if len(tokens) < 5 or tokens[4] not in index:
            raise missing_root(
                "cep-dvs", root, CEPDVS_LAYOUT,
                f"pathFile.csv line {n + 2} (sample {n}) has no known super-class as 5th token",
            )  # fmt: skip
        labels.append(index[tokens[4]])
    splits = ["unused"] * len(files)
    for c in np.unique(labels):
        members = np.flatnonzero(np.asarray(labels) == c)
        n_train, n_test = round(0.5 * len(members)), round(0.2 * len(members))
        for rank, i in enumerate(members):
            splits[i] = (
                "train" if rank < n_train else "test" if rank < n_train + n_test else "unused"
            )
    sensor = None
    if sensor_size is not None:
        if len(sensor_size) not in (2, 3):
            raise ConfigError(f"sensor_size = {sensor_size!r} must be (W, H)")
        sensor = (int(sensor_size[0]), int(sensor_size[1]), 2)
    return EventFiles(
        root,
        [str(f.relative_to(root)) for f in files],
        labels,
        [f.name for f in files],
        splits,
        CEPDVS_CLASSES,
        sensor,
        MAT_FORMAT,
    )


def _load_cepdvs_images(static_root: Path, classes: tuple[str, ...]):
    from snn_transfer.events.static import load_cepdvs_images

    return load_cepdvs_images(static_root)


CEPDVS = register_real(
    RealDataset(
        name="cep-dvs",
        summary="CEP-DVS (.mat recordings, 20 CIFAR-100 super-classes) + its source images",
        layout=CEPDVS_LAYOUT,
        list_samples=cepdvs_samples,
        pipeline=standard_pipeline(),
        split_rule="as the reference code: per class, by sample number, the first 50 % train "
        "(250 of 500), the next 20 % test (100), the remaining 30 % unused",
        time_steps=6,
        size=48,
        augment=("crop", "flip", "rotate"),
        static=StaticSide(
            what="CEP-DVS images",
            load=_load_cepdvs_images,
            event_key=lambda name: str(int(name.split(".")[0])),
            static_key=lambda images, i: str(int(images.names[i].split(".")[0])),
            order="channel_first",
            root_default=True,
        ),
        extra={"sensor_size": None},
    )
)

# --- folder: your own recordings ------------------------------------------------------------

EVENT_SUFFIXES = (".bin", ".aedat4", ".aedat", ".npy", ".h5", ".hdf5")
FOLDER_LAYOUT = """\
  <root>/<class>/<recording>     one folder per class, any supported format
  or <root>/train/<class>/... and <root>/test/<class>/...   (your own split)
  static_root (optional): <static_root>/<class>/<image>; an image named like a recording
  (same class and file stem) is its twin and never partners when that recording is held out"""


def _tail_test(labels: list[int], fraction: float) -> list[str]:
    """Per class the last ``max(1, round(fraction * n))`` files test (none when n = 1)."""
    splits = ["train"] * len(labels)
    array = np.asarray(labels)
    for c in np.unique(array):
        members = np.flatnonzero(array == c)
        n_test = 0 if len(members) < 2 else max(1, round(fraction * len(members)))
        for i in members[len(members) - n_test :]:
            splits[i] = "test"
    return splits


def folder_samples(root: Path, sensor_size=None, format=None, test_fraction=0.1) -> EventFiles:
    from snn_transfer.events.io import FORMATS, detect_format

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
            if not 0 < test_fraction < 1:
                raise ConfigError(f"test_fraction = {test_fraction!r} must be in (0, 1)")
            splits += _tail_test(lab, test_fraction)
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


FOLDER = register_real(
    RealDataset(
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
