"""Fake dataset trees in each recorded dataset's native layout, written by our writers.

Shared by the ``test_recorded_*``, ``test_cache*`` and ``test_events_cli*`` tests; the tests in
this file check the writers themselves and the N-Caltech101 and N-MNIST entries.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from idx_files import write_idx
from test_io_fakes import random_events

from snn_transfer.events.io import write_events
from snn_transfer.events.static import NCALTECH101_CLASSES


def write_png(path: Path, rng: np.random.Generator, shape=(12, 10, 3)) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(path)


def put(path: Path, events: np.ndarray, format: str, sensor_size=None) -> Path:
    """Write ``events`` in ``format``, creating the folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_events(path, events, format, sensor_size)


def events_in(rng, n, width, height, *, t0=0, t_max=200_000, t_unit=1):
    events = random_events(rng, n, (width, height, 2), t_max=t_max, t_unit=t_unit)
    events["t"] += t0
    return events


# N-Caltech101: BACKGROUND_Google 5 files (round(4.5) = 4 train), Faces_easy 10 (9 / 1),
# every other class 1 file (train); 114 recordings, 112 train, 2 test.
NCALTECH_COUNTS = {"BACKGROUND_Google": 5, "Faces_easy": 10}


def write_ncaltech(root: Path, rng: np.random.Generator, *, events: int = 150) -> Path:
    for cls in NCALTECH101_CLASSES:
        folder = root / "Caltech101" / cls
        folder.mkdir(parents=True)
        for k in range(NCALTECH_COUNTS.get(cls, 1)):
            width, height = int(rng.integers(60, 240)), int(rng.integers(60, 180))
            write_events(
                folder / f"image_{k + 1:04d}.bin", events_in(rng, events, width, height), "atis"
            )
    return root


def write_caltech_images(root: Path, rng: np.random.Generator) -> Path:
    """Caltech101 images for every N-Caltech101 recording, an extra image per class without
    a recording, and a ``Faces`` folder the loader must skip."""
    for cls in (*NCALTECH101_CLASSES, "Faces"):
        for k in range(NCALTECH_COUNTS.get(cls, 1) + 1):
            write_png(root / "101_ObjectCategories" / cls / f"image_{k + 1:04d}.jpg", rng)
    return root


def write_nmnist(root: Path, rng: np.random.Generator, *, per_digit: int = 3) -> Path:
    """Train/<d>/ files numbered d * per_digit + 1 ..; Test/<d>/ one file numbered d + 1."""
    for d in range(10):
        for k in range(per_digit):
            number = d * per_digit + k + 1
            path = root / "NMNIST" / "Train" / str(d) / f"{number:05d}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_events(path, events_in(rng, 120, 34, 34), "atis")
        path = root / "NMNIST" / "Test" / str(d) / f"{d + 1:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_events(path, events_in(rng, 120, 34, 34), "atis")
    return root


def write_mnist(root: Path, rng: np.random.Generator, labels: np.ndarray) -> Path:
    write_idx(root / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (len(labels), 28, 28)))
    write_idx(root / "train-labels-idx1-ubyte.gz", labels)
    return root


def write_folder_dataset(root: Path, rng: np.random.Generator, *, per_class=4, events=200):
    """``root/<cls>/rec<k>.aedat4`` for classes ``a, b`` (128x128)."""
    for cls in ("a", "b"):
        for k in range(per_class):
            path = root / cls / f"rec{k}.aedat4"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_events(path, events_in(rng, events, 128, 128), "aedat4", (128, 128, 2))
    return root


@pytest.fixture(scope="module")
def caltech_trees(tmp_path_factory):
    rng = np.random.default_rng(5)
    base = tmp_path_factory.mktemp("ncaltech")
    return write_ncaltech(base / "events", rng), write_caltech_images(base / "images", rng), base


def test_ncaltech_entry_labels_splits_frames_and_twin_pool(caltech_trees):
    from snn_transfer.events.datasets import load_dataset
    from snn_transfer.events.io import read_events

    events_root, images_root, base = caltech_trees
    options = dict(
        root=events_root, time_steps=3, size=16, cache_dir=base / "cache", progress=False
    )
    data = load_dataset("n-caltech101", static_root=images_root, val_fraction=0, **options)
    assert data.classes == NCALTECH101_CLASSES and len(data.classes) == 101
    assert data.sensor_size == (240, 180, 2) and data.frame_shape == (3, 2, 16, 16)
    assert (len(data.train), len(data.val), len(data.test)) == (112, 0, 2)
    assert data.test.names == ["BACKGROUND_Google/image_0005.bin", "Faces_easy/image_0010.bin"]
    assert data.test.labels.tolist() == [0, 1]
    assert "model selection can only use the test set" in data.info["selection"]
    # frames are the cached ToFrame + resize of the recording
    from snn_transfer.events.framing import ToFrame
    from snn_transfer.events.transforms import resize

    recording = read_events(events_root / "Caltech101" / "Faces_easy" / "image_0010.bin").events
    expected = resize(ToFrame((240, 180, 2), n_time_bins=3)(recording), (16, 16), antialias=True)
    frames, label = data.test[1]
    assert label == 1 and np.allclose(frames, expected, atol=1e-6)
    assert np.array_equal(data.train.framing(recording), frames)  # kept to frame new recordings
    assert frames.sum() == pytest.approx(expected.sum(), rel=1e-5)
    # the pool: twins of the training recordings only (no test twin, no image without twin)
    pool_names = {data.static_pool and _static_name(data, i) for i in data.static_pool.indices}
    assert len(pool_names) == 112
    assert (
        "Faces_easy/image_0010.jpg" not in pool_names
        and "Faces_easy/image_0011.jpg" not in pool_names
    )
    assert "Faces_easy/image_0009.jpg" in pool_names
    static = data.static_input(int(data.static_pool.indices[0]))
    assert static.shape == (3, 2, 16, 16) and static.min() >= 0 and static.max() <= 1

    with_val = load_dataset("n-caltech101", static_root=images_root, seed=1, **options)
    held = set(with_val.val.names) | set(with_val.test.names)
    # one validation recording per class with at least two training recordings
    assert len(with_val.val) == 2 and len(with_val.train) == 110
    assert with_val.val.labels.tolist() == [0, 1]
    pool = {_static_name(with_val, i).replace(".jpg", ".bin") for i in with_val.static_pool.indices}
    assert pool.isdisjoint(held) and len(pool) == 110


def _static_name(data, index: int) -> str:
    from snn_transfer.events.static import load_caltech101

    root = Path(data.info["static_root"])
    return load_caltech101(root).names[int(index)]


# Recordings per N-Caltech101 class in its class order (BACKGROUND_Google first): 8,709.
NCALTECH_CLASS_COUNTS = [
    467, 435, 200, 798, 55, 800, 42, 42, 47, 54, 46, 33, 128, 98, 43, 85, 91, 50, 43, 123, 47,
    59, 62, 107, 47, 69, 73, 70, 50, 51, 57, 67, 52, 65, 68, 75, 64, 53, 64, 85, 67, 67, 45, 34,
    34, 51, 99, 100, 42, 54, 88, 80, 31, 64, 86, 114, 61, 81, 78, 41, 66, 43, 40, 87, 32, 76, 55,
    35, 39, 47, 38, 45, 53, 34, 57, 82, 59, 49, 40, 63, 39, 84, 57, 35, 64, 45, 86, 59, 64, 35,
    85, 49, 86, 75, 239, 37, 59, 34, 56, 39, 60,
]  # fmt: skip


def test_ncaltech_split_rule_gives_7839_and_870_on_the_real_class_sizes():
    from snn_transfer.events.recorded.listing import per_class_head

    labels = np.repeat(np.arange(101), NCALTECH_CLASS_COUNTS).tolist()
    splits = per_class_head(labels, 0.9)
    assert len(splits) == 8709 and splits.count("train") == 7839 and splits.count("test") == 870
    # per class the first round(0.9 n) in order (BACKGROUND_Google: 420 of 467); Python's
    # round takes ties to even: n = 35 -> round(31.5) = 32, n = 5 -> round(4.5) = 4
    assert splits[:467].count("train") == 420 and splits[419:421] == ["train", "test"]
    assert per_class_head([0] * 35, 0.9).count("train") == 32
    assert per_class_head([0] * 5, 0.9).count("train") == 4  # round(4.5) = 4


def test_ncaltech_paper_framing_is_the_reference_framing(caltech_trees):
    from snn_transfer.events.datasets import load_dataset
    from snn_transfer.events.framing import PaperFrames
    from snn_transfer.events.io import read_events

    events_root, _, base = caltech_trees
    data = load_dataset(
        "n-caltech101", root=events_root, framing="paper", time_steps=4, size=20,
        val_fraction=0, cache_dir=base / "cache", progress=False,
    )  # fmt: skip
    recording = read_events(events_root / "Caltech101" / "BACKGROUND_Google" / "image_0005.bin")
    expected = PaperFrames(4, size=(20, 20), shift_xy=True)(recording.events)
    assert data.frame_shape == (4, 2, 20, 20) and np.allclose(data.test[0][0], expected, atol=1e-5)


def test_ncaltech_missing_and_incomplete_roots_print_the_layout(tmp_path):
    from snn_transfer.errors import DatasetError
    from snn_transfer.events.datasets import load_dataset

    with pytest.raises(
        DatasetError, match="(?s)no N-Caltech101 class folder.*BACKGROUND_Google.*data/README.md"
    ):
        load_dataset("n-caltech101", root=tmp_path / "nowhere")
    (tmp_path / "airplanes").mkdir()
    write_events(
        tmp_path / "airplanes" / "image_0001.bin",
        events_in(np.random.default_rng(0), 5, 9, 9),
        "atis",
    )
    with pytest.raises(
        DatasetError, match="(?s)100 of 101 classes have no files.*BACKGROUND_Google"
    ):
        load_dataset("n-caltech101", root=tmp_path)


def test_nmnist_entry_official_splits_val_fraction_and_pool(tmp_path):
    from snn_transfer.events.datasets import load_dataset

    rng = np.random.default_rng(2)
    write_nmnist(tmp_path / "nm", rng)
    write_mnist(tmp_path / "mnist", rng, np.repeat(np.arange(10), 3))
    # stray folders are not digit classes, "²" included (str.isdigit() accepts it, int() not)
    (tmp_path / "nm" / "NMNIST" / "Train" / "²").mkdir()
    (tmp_path / "nm" / "NMNIST" / "Train" / "notes").mkdir()
    data = load_dataset(
        "n-mnist",
        root=tmp_path / "nm",
        static_root=tmp_path / "mnist",
        val_fraction=1 / 3,
        time_steps=2,
        cache_dir=tmp_path / "cache",
        progress=False,
    )
    assert data.frame_shape == (2, 2, 34, 34) and data.classes[3] == "3 - three"
    assert (len(data.train), len(data.val), len(data.test)) == (20, 10, 10)
    assert np.bincount(data.val.labels).tolist() == [1] * 10
    assert data.test.names[0] == "Test/0/00001.bin"
    frames, label = data.train[0]
    assert frames.sum() == 120 and label == 0  # 120 events, no resize at 34x34
    # MNIST image n - 1 is the twin of recording n: the pool holds the 20 training twins
    val_twins = {f"train/{int(n.split('/')[-1][:5]) - 1:05d}" for n in data.val.names}
    pool = set(int(i) for i in data.static_pool.indices)
    assert len(pool) == 20 and not {int(t[6:]) for t in val_twins} & pool
    # the 28x28 digit is padded into the 34x34 view
    assert data.static_planes.shape == (20, 34, 34) and data.static_planes[:, :3].sum() == 0
    less = load_dataset(
        "n-mnist", root=tmp_path / "nm", val_fraction=0, event_fraction=0.34, time_steps=2,
        cache_dir=tmp_path / "cache", progress=False,
    )  # fmt: skip
    assert len(less.train) == 10 and less.static_pool is None and "static" in less.info
