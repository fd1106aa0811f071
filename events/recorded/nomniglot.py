"""N-Omniglot: AEDAT 4 recordings (DAVIS346) of Omniglot's drawings, + the drawings.

One recording per character holds its 20 drawings; a csv per recording gives each drawing's
time window (assumed as BrainCog, the authors' code, reads it; see the layout text and
``data/README.md``). Official split: drawers 0-14 of every character train, 15-19 test.
The frames are the reference's (``FrequencyFrames``) whatever ``framing`` says.
"""

from __future__ import annotations

import csv
from pathlib import Path

from snn_transfer.events.framing.pipeline import FramePipeline
from snn_transfer.events.framing.reference import FrequencyFrames
from snn_transfer.events.recorded.description import RecordedDataset, StaticSide, missing_root
from snn_transfer.events.recorded.files import EventFiles
from snn_transfer.events.recorded.listing import first_base, sorted_files, sorted_folders
from snn_transfer.events.recorded.loader import register_recorded
from snn_transfer.events.static import load_omniglot
from snn_transfer.events.static.images import StaticImages

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


def _omniglot_pipeline(mode: str, steps: int, size, sensor) -> FramePipeline:
    return FramePipeline(FrequencyFrames(steps, sensor_size=tuple(sensor), size=size))


def _load_omniglot(static_root: Path, classes: tuple[str, ...]) -> StaticImages:
    return load_omniglot(static_root)


NOMNIGLOT = register_recorded(
    RecordedDataset(
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
