"""DVS128 Gesture: 11 hand gestures in Tonic's preprocessed ``.npy`` layout, events only.

Official split: ibmGestureTrain (users 1-23) / ibmGestureTest (users 24-29).
"""

from __future__ import annotations

from pathlib import Path

from snn_transfer.events.framing.pipeline import standard_pipeline
from snn_transfer.events.recorded.description import RecordedDataset, missing_root
from snn_transfer.events.recorded.files import EventFiles
from snn_transfer.events.recorded.listing import first_base, sorted_files, sorted_folders
from snn_transfer.events.recorded.loader import register_recorded

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


GESTURE = register_recorded(
    RecordedDataset(
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
