"""Our listings agree with Tonic's dataset classes where Tonic has one.

The fake trees are read through Tonic's ``NMNIST``, ``DVSGesture`` and ``CIFAR10DVS`` with
their existence check patched (so nothing is downloaded) and compared with our entries'
samples: same files, same labels, same events. Tonic's classes are not used for loading
(they download when files are missing, need the archives present, and list some folders in
file-system order), but they define the layouts users already have.
"""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import numpy as np
from test_recorded_entries import write_cifar10dvs
from test_recorded_fakes import events_in, put, write_nmnist

from snn_transfer.events.recorded.cifar10dvs import cifar10dvs_samples
from snn_transfer.events.recorded.dvs_gesture import gesture_samples
from snn_transfer.events.recorded.nmnist import nmnist_samples


def tonic_samples(cls, root: Path, **kwargs) -> dict[str, tuple[np.ndarray, int]]:
    """Every sample of a Tonic dataset class, keyed by the path relative to ``root``."""
    with (
        mock.patch.object(cls, "_check_exists", return_value=True),
        mock.patch.object(cls, "download", side_effect=AssertionError("download attempted")),
    ):
        dataset = cls(save_to=str(root), **kwargs)
    out = {}
    for i, path in enumerate(dataset.data):
        events, target = dataset[i]
        out[str(Path(path).relative_to(root))] = (events, int(target))
    return out


def assert_same(ours, theirs: dict) -> None:
    for i, relative in enumerate(ours.paths):
        events, target = theirs.pop(relative)
        mine = ours.events(i)
        assert int(ours.labels[i]) == target, relative
        for field in "xytp":
            assert np.array_equal(mine[field].astype(np.int64), events[field].astype(np.int64)), (
                relative
            )


def test_nmnist_gesture_cifar10dvs_match_tonic(tmp_path):
    from tonic.datasets import CIFAR10DVS, NMNIST, DVSGesture

    rng = np.random.default_rng(11)
    write_nmnist(tmp_path, rng, per_digit=2)
    ours = nmnist_samples(tmp_path)
    theirs = tonic_samples(NMNIST, tmp_path, train=True) | tonic_samples(
        NMNIST, tmp_path, train=False
    )
    assert len(theirs) == len(ours) == 30
    assert_same(ours, theirs)

    for part, user in (("ibmGestureTrain", "user03_led"), ("ibmGestureTest", "user25_natural")):
        for label in range(11):
            events = events_in(rng, 30, 128, 128, t_unit=1000)
            put(tmp_path / "DVSGesture" / part / user / f"{label}.npy", events, "gesture-npy")
    ours = gesture_samples(tmp_path)
    theirs = tonic_samples(DVSGesture, tmp_path, train=True) | tonic_samples(
        DVSGesture, tmp_path, train=False
    )
    assert len(theirs) == len(ours) == 22
    assert_same(ours, theirs)

    write_cifar10dvs(tmp_path / "CIFAR10DVS", rng, per_class=1)
    ours = cifar10dvs_samples(tmp_path)
    ours = ours.subset([i for i, p in enumerate(ours.paths) if p.endswith(".aedat4")])
    theirs = tonic_samples(CIFAR10DVS, tmp_path)
    assert len(theirs) == len(ours) == 9  # Tonic reads only AEDAT 4 (class truck is AEDAT 2)
    assert_same(ours, theirs)
