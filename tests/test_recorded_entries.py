"""CIFAR10-DVS, DVS128 Gesture, N-Omniglot, CEP-DVS and ``folder``: fake trees in the
native formats, loaded through the registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_recorded_fakes import events_in, put, write_folder_dataset, write_png

from snn_transfer.errors import ConfigError, DatasetError
from snn_transfer.events.datasets import load_dataset
from snn_transfer.events.io import read_events
from snn_transfer.events.recorded.cifar10dvs import CIFAR10_CLASSES
from snn_transfer.events.recorded.dvs_gesture import GESTURE_CLASSES


def quick(tmp_path: Path, **options):
    return dict(cache_dir=tmp_path / "cache", progress=False, **options)


def write_cifar10dvs(root: Path, rng, per_class: int = 6) -> Path:
    """Tonic's AEDAT 4 files, except class ``truck`` in the original AEDAT 2.0 format."""
    for cls in CIFAR10_CLASSES:
        for k in range(per_class):
            events = events_in(rng, 100, 128, 128)
            if cls == "truck":
                put(root / cls / f"cifar10_{cls}_{k}.aedat", events, "aedat2", (128, 128, 2))
            else:
                put(root / cls / f"cifar10_{cls}_{k}.aedat4", events, "aedat4", (128, 128, 2))
    return root


def test_cifar10dvs_reads_both_formats_and_splits_nine_to_one(tmp_path):
    rng = np.random.default_rng(0)
    root = write_cifar10dvs(tmp_path / "CIFAR10DVS" / "CIFAR10DVS", rng)
    for cls in CIFAR10_CLASSES:
        write_png(tmp_path / "cifar10" / cls / "0.png", rng, (32, 32, 3))
    data = load_dataset(
        "cifar10-dvs", root=root.parent, static_root=tmp_path / "cifar10", time_steps=2,
        size=32, val_fraction=0.2, **quick(tmp_path),
    )  # fmt: skip
    assert data.classes == CIFAR10_CLASSES and data.frame_shape == (2, 2, 32, 32)
    assert (len(data.train), len(data.val), len(data.test)) == (40, 10, 10)
    assert data.test.names[-1] == "truck/cifar10_truck_5.aedat"
    frames, label = data.test[9]
    from snn_transfer.events.framing import ToFrame
    from snn_transfer.events.transforms import resize

    recording = read_events(root / "truck" / "cifar10_truck_5.aedat").events
    expected = resize(ToFrame((128, 128, 2), n_time_bins=2)(recording), (32, 32), antialias=True)
    assert label == 9 and np.allclose(frames, expected, atol=1e-6)
    assert frames.sum() == pytest.approx(100 / 16, rel=0.05)  # averaged over 4x4 pixels
    assert len(data.static_pool) == 10 and data.info["static_rule"].startswith("all images")


def test_dvs_gesture_official_split_labels_from_file_names(tmp_path):
    rng = np.random.default_rng(1)
    root = tmp_path / "DVSGesture"
    users = {
        "ibmGestureTrain": ["user02_led", "user10_fluorescent"],
        "ibmGestureTest": ["user24_led"],
    }
    for part, names in users.items():
        for user in names:
            for label in range(11):
                events = events_in(rng, 60, 128, 128, t_unit=1000)
                put(root / part / user / f"{label}.npy", events, "gesture-npy")
    data = load_dataset("dvs-gesture", root=tmp_path, time_steps=4, size=None, **quick(tmp_path))
    assert data.classes == GESTURE_CLASSES and not data.has_static
    assert data.frame_shape == (4, 2, 128, 128)
    assert (len(data.train), len(data.val), len(data.test)) == (11, 11, 11)  # >= 1 per class
    assert data.test.labels.tolist() == list(range(11))
    assert data.test.names[10] == "ibmGestureTest/user24_led/10.npy"
    frames, _ = data.test[3]
    recording = read_events(root / "ibmGestureTest" / "user24_led" / "3.npy").events
    assert frames.sum() == len(recording) == 60
    # augmentation runs on train only, reproducibly from (seed, epoch, index)
    assert data.train.transform is not None and data.test.transform is None
    first = data.train[0][0]
    assert np.array_equal(first, data.train[0][0])
    data.train.set_epoch(1)
    assert not np.array_equal(first, data.train[0][0])


def write_nomniglot(root: Path, rng) -> Path:
    """Three background characters and one evaluation character, 20 drawings each."""
    chars = {
        "dvs_background": [
            ("Alpha", "character01"),
            ("Alpha", "character02"),
            ("Beta", "character01"),
        ],
        "dvs_evaluation": [("Gamma", "character01")],
    }
    number = 0
    for kind, entries in chars.items():
        for alphabet, character in entries:
            number += 1
            folder = root / kind / alphabet / character
            folder.mkdir(parents=True)
            t0 = 1_600_000_000_000_000  # DV timestamps are Unix microseconds
            parts, rows = [], ["drawing,start,end"]
            for drawer in range(20):
                start = t0 + drawer * 3_000_000
                events = events_in(rng, 50 + drawer, 346, 260, t0=start, t_max=1_000_000)
                events["t"][0] = start
                parts.append(events)
                rows.append(f"{drawer + 1},{start},{int(events['t'][-1]) + 1}")
            put(folder / f"{number:04d}.aedat4", np.concatenate(parts), "aedat4", (346, 260, 2))
            (folder / f"{number:04d}.csv").write_text("\n".join(rows) + "\n")
    return root


def write_omniglot_images(root: Path, rng) -> Path:
    for kind, chars in (
        ("images_background", ["Alpha/character01", "Alpha/character02", "Beta/character01"]),
        ("images_evaluation", ["Gamma/character01"]),
    ):
        for char in chars:
            for drawer in range(20):
                write_png(
                    root / kind / char / f"0{drawer + 1:02d}_{drawer + 1:02d}.png", rng, (20, 20)
                )
    return root


def test_nomniglot_drawers_frequency_frames_and_drawer_twins(tmp_path):
    from snn_transfer.events.framing import FrequencyFrames

    rng = np.random.default_rng(2)
    root = write_nomniglot(tmp_path / "nomni", rng)
    images = write_omniglot_images(tmp_path / "omniglot", rng)
    data = load_dataset(
        "n-omniglot", root=root, static_root=images, val_fraction=0.2, **quick(tmp_path)
    )
    assert data.classes == (
        "Alpha/character01",
        "Alpha/character02",
        "Beta/character01",
        "Gamma/character01",
    )
    assert data.frame_shape == (12, 2, 28, 28) and data.sensor_size == (346, 260, 2)
    assert (len(data.train), len(data.val), len(data.test)) == (48, 12, 20)
    assert np.bincount(data.test.labels).tolist() == [5, 5, 5, 5]
    assert data.test.names[0] == "dvs_background/Alpha/character01/0001.aedat4#15"
    # frames: the reference's rate frames of the drawing's window, in [0, 1]
    recording = read_events(root / "dvs_background/Alpha/character01/0001.aedat4").events
    table = (root / "dvs_background/Alpha/character01/0001.csv").read_text().splitlines()
    _, start, end = (int(v) for v in table[16].split(","))
    window = recording[(recording["t"] >= start) & (recording["t"] < end)]
    assert len(window) == 50 + 15
    frames, label = data.test[0]
    assert label == 0 and np.allclose(frames, FrequencyFrames(12)(window), atol=1e-6)
    assert frames.min() >= 0 and frames.max() <= 1
    # pool = the Omniglot drawings of the training drawers (not validation, not 15-19)
    pool = data.static_pool.indices
    assert len(pool) == 48
    drawers = {
        (int(data.train.labels[i]), n.rsplit("#")[1]) for i, n in enumerate(data.train.names)
    }
    from snn_transfer.events.static import load_omniglot

    omni = load_omniglot(images)
    pooled = {(int(omni.labels[i]), f"{int(omni.attributes['drawer'][i]):02d}") for i in pool}
    assert pooled == drawers


def test_nomniglot_frequency_frames_values():
    from snn_transfer.events.core import make_events
    from snn_transfer.events.framing import FrequencyFrames

    # 3 bins over t = 0..10: dt = 3, bins [0, 3), [3, 6), [6, 10] (the last takes the rest)
    events = make_events(
        [60, 60, 61, 60, 60], [10, 10, 10, 10, 10], [0, 1, 4, 7, 10], [1, 1, 0, 1, 1]
    )
    frames = FrequencyFrames(3, crop=(0, 260, 0, 346), size=None)(events)
    assert frames.shape == (3, 2, 260, 346)
    assert frames[0, 1, 10, 60] == 1 and frames[0, 0].max() == 0
    assert frames[1, 0, 10, 61] == 1 and frames[2, 1, 10, 60] == 1
    # rates below eps are normalised by eps: one event in a 10 s bin -> 1e-7 / 1e-5
    slow = make_events([60, 60], [10, 10], [0, 30_000_000], [1, 1])
    low = FrequencyFrames(1, crop=(0, 260, 0, 346), size=None)(slow)
    assert low[0, 1, 10, 60] == pytest.approx(2 / 30_000_000 / 1e-5)


def write_cepdvs(root: Path, rng, per_class: int = 10) -> Path:
    from scipy.io import savemat

    from snn_transfer.events.static import CEPDVS_CLASSES as classes

    lines = ["index path label"]
    number = 0
    for cls in classes:
        for _ in range(per_class):
            events = events_in(rng, 40, 300, 200)
            mat = root / "data" / "MAT" / "img" / f"{number}.mat"
            mat.parent.mkdir(parents=True, exist_ok=True)
            p = np.where(events["p"] == 1, 1, -1)
            savemat(mat, {"x": events["x"], "y": events["y"], "ts": events["t"], "p": p})
            write_png(root / "data" / "img" / f"{number}.png", rng, (24, 24, 3))
            lines.append(f"{number} a b c {cls}")
            number += 1
    (root / "pathFile.csv").write_text("\n".join(lines) + "\n")
    return root


def test_cepdvs_mat_recordings_half_and_fifth_split_and_number_twins(tmp_path):
    rng = np.random.default_rng(3)
    root = write_cepdvs(tmp_path / "cep", rng)
    data = load_dataset(
        "cep-dvs", root=root, val_fraction=0, time_steps=3, size=24, **quick(tmp_path)
    )
    assert data.sensor_size is None and data.frame_shape == (3, 2, 24, 24)
    assert (len(data.train), len(data.val), len(data.test)) == (100, 0, 40)
    assert data.train.names[:5] == ["0.mat", "1.mat", "2.mat", "3.mat", "4.mat"]
    assert data.test.names[:2] == ["5.mat", "6.mat"]
    assert data.test.labels.tolist() == np.repeat(np.arange(20), 2).tolist()
    from snn_transfer.events.framing import ExtentFrames
    from snn_transfer.events.io.cepdvs_mat import read_mat_events

    recording = read_mat_events(root / "data" / "MAT" / "img" / "5.mat")
    assert len(recording) == 40 and set(np.unique(recording["p"])) == {0, 1}
    assert np.allclose(data.test[0][0], ExtentFrames(3, (24, 24))(recording), atol=1e-6)
    pool = data.static_pool.indices
    assert len(pool) == 100 and data.info["static_root"] == str(root)
    assert data.static_spec.order == "channel_first"
    fixed = load_dataset(
        "cep-dvs", root=root, sensor_size=(300, 200), size=None, time_steps=2, **quick(tmp_path)
    )
    assert fixed.sensor_size == (300, 200, 2) and fixed.frame_shape == (2, 2, 200, 300)
    assert fixed.test[0][0].sum() == 40


def test_folder_entry_twins_pool_and_own_splits(tmp_path):
    rng = np.random.default_rng(4)
    root = write_folder_dataset(tmp_path / "mine", rng, per_class=5)
    for cls in ("a", "b"):
        for k in range(5):
            write_png(tmp_path / "img" / cls / f"rec{k}.png", rng)
        write_png(tmp_path / "img" / cls / "extra.png", rng)
    data = load_dataset(
        "folder", root=root, static_root=tmp_path / "img", size=None, time_steps=2,
        val_fraction=0.25, test_fraction=0.2, **quick(tmp_path),
    )  # fmt: skip
    assert data.classes == ("a", "b") and data.sensor_size == (128, 128, 2)
    assert (len(data.train), len(data.val), len(data.test)) == (6, 2, 2)
    assert data.test.names == ["a/rec4.aedat4", "b/rec4.aedat4"]
    held = {n.split(".")[0] for n in data.val.names + data.test.names}
    from snn_transfer.events.recorded.listing import load_image_folders

    images = load_image_folders(tmp_path / "img", ("a", "b"), "x")
    pooled = {images.names[i].split(".")[0] for i in data.static_pool.indices}
    assert len(pooled) == 8 and pooled.isdisjoint(held) and "a/extra" in pooled
    with pytest.raises(ConfigError, match="no option 'sensor'"):
        load_dataset("folder", root=root, sensor=(1, 2))
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset("folder", root=tmp_path / "nothing")


def test_registry_options_of_recorded_entries():
    from snn_transfer.events.datasets import dataset_entry

    for name in (
        "n-caltech101",
        "n-mnist",
        "cifar10-dvs",
        "dvs-gesture",
        "n-omniglot",
        "cep-dvs",
        "folder",
    ):
        options = dataset_entry(name).options()
        for key in ("root", "time_steps", "size", "seed", "event_fraction", "val_fraction",
                    "framing", "augment", "cache_dir", "workers", "progress"):  # fmt: skip
            assert key in options, (name, key)
        assert options["val_fraction"] == 0.1
        assert ("static_root" in options) == (name != "dvs-gesture")
    assert dataset_entry("n-omniglot").options()["size"] == 28
    assert dataset_entry("cep-dvs").options()["augment"] == ("crop", "flip", "rotate")
    with pytest.raises(DatasetError, match="no root given"):
        load_dataset("dvs-gesture")
