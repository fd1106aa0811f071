"""The ``tonic`` entry: Tonic datasets (and any map-style dataset of (events, target)) as an
event source, by class name from a local folder and as objects.

The N-MNIST trees are written in Tonic's layout by our ATIS writer; nothing is downloaded
(the network is cut off for the tests that construct Tonic classes).
"""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest
import torch
from test_recorded_fakes import events_in, put, write_mnist, write_nmnist

from snn_transfer.errors import ConfigError, DatasetError
from snn_transfer.events.containers import EventFrames, PairedData
from snn_transfer.events.datasets import from_tonic, load_dataset, open_tonic
from snn_transfer.events.framing import ToFrame
from snn_transfer.events.io import read_events
from snn_transfer.run_config import TransferConfig
from snn_transfer.trainer import Trainer

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No test here may reach the network, nor write to the user's cache folder."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("SNN_TRANSFER_CACHE", str(tmp_path / "default-cache"))


@pytest.fixture
def tree(tmp_path):
    return write_nmnist(tmp_path / "data", np.random.default_rng(2))


def options(tmp_path, **more):
    return dict(time_steps=3, cache_dir=tmp_path / "cache", progress=False, **more)


def test_by_name_frames_splits_and_mnist_partners_equal_the_n_mnist_entry(tmp_path, tree):
    write_mnist(tmp_path / "mnist", np.random.default_rng(3), np.repeat(np.arange(10), 3))
    common = options(tmp_path, static_root=tmp_path / "mnist", val_fraction=1 / 3)
    data = load_dataset("tonic", name="NMNIST", save_to=tree, **common)
    ours = load_dataset("n-mnist", root=tree, size=None, **common)
    assert data.name == "tonic-NMNIST" and data.classes == ours.classes
    assert data.frame_shape == (3, 2, 34, 34) and data.sensor_size == (34, 34, 2)
    for split in ("train", "val", "test"):
        mine, theirs = getattr(data, split), getattr(ours, split)
        assert mine.names == theirs.names and mine.labels.tolist() == theirs.labels.tolist()
    frames, label = data.test[3]
    recording = read_events(tree / "NMNIST" / "Test" / "3" / "00004.bin").events
    assert label == 3 and np.array_equal(frames, ToFrame((34, 34, 2), n_time_bins=3)(recording))
    assert frames.dtype == np.float32 and frames.sum() == 120
    # the MNIST twins of the training recordings only, as the n-mnist entry pairs them
    assert data.static_pool.indices.tolist() == ours.static_pool.indices.tolist()
    assert len(data.static_pool) == 20 and data.static_planes.shape == (20, 34, 34)
    assert data.info["tonic"]["datasets"][0]["class"] == "tonic.datasets.nmnist.NMNIST"
    assert data.info["tonic"]["order"] == "sorted by file path"


def test_missing_folders_get_our_layout_and_bad_names_the_list(tmp_path, tree):
    with pytest.raises(DatasetError) as error:
        load_dataset("tonic", name="NMNIST", save_to=tmp_path / "nowhere", **options(tmp_path))
    text = str(error.value)
    assert "Train/<digit>/<number>.bin" in text and "nothing is downloaded" in text
    (tree / "NMNIST" / "Test").rename(tree / "NMNIST" / "Later")
    with pytest.raises(DatasetError, match="(?s)no samples under .*Test.*pass train=true"):
        load_dataset("tonic", name="NMNIST", save_to=tree, **options(tmp_path))
    data = load_dataset("tonic", name="NMNIST", save_to=tree, train=True, **options(tmp_path))
    assert (len(data.train) + len(data.val), len(data.test)) == (20, 10)  # last per class
    assert data.test.names[0] == "Train/0/00003.bin"
    with pytest.raises(ConfigError, match="did you mean 'NMNIST'.*NCALTECH101"):
        load_dataset("tonic", name="NMNSIT", save_to=tree)
    with pytest.raises(ConfigError, match="no option 'stabilise'.*first_saccade_only"):
        load_dataset("tonic", name="nmnist", save_to=tree, stabilise=True)
    with pytest.raises(ConfigError, match="needs name="):
        load_dataset("tonic")


def test_order_does_not_depend_on_how_tonic_lists_the_files(tmp_path, tree):
    train, test = open_tonic("NMNIST", tree, train=True), open_tonic("NMNIST", tree, train=False)
    plain = from_tonic(train, test, **options(tmp_path))
    order = np.random.default_rng(0).permutation(len(train))
    train.data = [train.data[i] for i in order]  # as a file system may list them
    train.targets = [train.targets[i] for i in order]
    shuffled = from_tonic(train, test, **options(tmp_path))
    assert shuffled.train.names == plain.train.names and shuffled.val.names == plain.val.names
    assert shuffled.train.names[:3] == [
        "Train/0/00001.bin",
        "Train/0/00002.bin",
        "Train/1/00005.bin",
    ]
    assert shuffled.info["cache"] == plain.info["cache"]  # same sample list, same fingerprint
    assert np.array_equal(shuffled.train[5][0], plain.train[5][0])


def test_the_cache_is_reused_and_rebuilt_when_a_file_changes(tmp_path, tree):
    first = load_dataset("tonic", name="NMNIST", save_to=tree, **options(tmp_path))
    train_cache, test_cache = first.info["cache"]["train"], first.info["cache"]["test"]
    built = os.stat(train_cache).st_mtime_ns
    again = load_dataset("tonic", name="NMNIST", save_to=tree, **options(tmp_path))
    assert again.info["cache"] == first.info["cache"] and os.stat(train_cache).st_mtime_ns == built
    changed = tree / "NMNIST" / "Train" / "4" / "00013.bin"
    put(changed, events_in(np.random.default_rng(9), 300, 34, 34), "atis")
    later = load_dataset("tonic", name="NMNIST", save_to=tree, **options(tmp_path))
    assert later.info["cache"]["train"] != train_cache
    assert later.info["cache"]["test"] == test_cache
    source = later.train if "Train/4/00013.bin" in later.train.names else later.val
    row = source.names.index("Train/4/00013.bin")
    assert source[row][0].sum() == 300
    # a changed framing is another cache too
    other = load_dataset("tonic", name="NMNIST", save_to=tree, **options(tmp_path, size=17))
    assert other.info["cache"]["train"] != later.info["cache"]["train"]
    assert other.frame_shape == (3, 2, 17, 17)


def test_int16_frames_from_tonic_are_served_as_float32(tmp_path, tree):
    import tonic

    tonic_frames = tonic.transforms.ToFrame(sensor_size=(34, 34, 2), n_time_bins=3)
    train = open_tonic("NMNIST", tree, train=True)
    events, _ = train[0]
    expected = tonic_frames(events.copy())
    assert expected.dtype == np.int16
    # Tonic's ToFrame as our framing: int16 -> float32, cached, kept for new recordings
    data = from_tonic(train, framing=tonic_frames, val_fraction=0, **options(tmp_path))
    frames, _ = data.train[0]
    assert frames.dtype == np.float32 and np.array_equal(frames, expected.astype(np.float32))
    assert data.info["framing"]["framing"]["fields"]["description"].startswith(
        "tonic.transforms.ToFrame ToFrame(sensor_size=(34, 34, 2)"
    )
    # a dataset whose own transform frames its samples: cached as it frames them
    framed = open_tonic("NMNIST", tree, train=True, transform=tonic_frames)
    data = from_tonic(framed, val_fraction=0, **options(tmp_path))
    assert np.array_equal(data.train[0][0], frames) and data.train[0][0].dtype == np.float32
    with pytest.raises(ConfigError, match="frames its samples already"):
        from_tonic(framed, framing="paper", size=34, **options(tmp_path))
    # any split of int16 frames, and refusals of what is no number
    source = [(expected, 1)]

    class Frames(list):
        labels = [1]

    split = EventFrames(Frames(source), np.array([0]), None)
    assert split[0][0].dtype == np.float32
    split = EventFrames(Frames([(np.array([["a"]]), 1)]), np.array([0]), None)
    with pytest.raises(ConfigError, match="frames must hold numbers"):
        split[0]
    # a callable framing works for our recorded entries too
    ours = load_dataset(
        "n-mnist", root=tree, framing=tonic_frames, val_fraction=0, **options(tmp_path)
    )
    assert np.array_equal(ours.train[0][0], frames)


def blur_frames(frames):
    return frames


def test_unpicklable_framings_and_transforms_are_refused_before_training(tmp_path, tree):
    train = open_tonic("NMNIST", tree, train=True)
    with pytest.raises(ConfigError, match="framing .*<lambda>.* cannot be pickled.*top-level"):
        from_tonic(train, framing=lambda events: events, **options(tmp_path))
    assert not (tmp_path / "cache").exists()  # refused before anything was framed
    from snn_transfer.events.datasets import OnFrames

    with pytest.raises(ConfigError, match="augment entry .*<lambda>.* cannot be pickled"):
        from_tonic(train, augment=[OnFrames(lambda f, rng: f)], **options(tmp_path))
    with pytest.raises(ConfigError, match="dataset's transform .*<lambda>"):
        from_tonic(open_tonic("NMNIST", tree, transform=lambda e: e), **options(tmp_path))
    # a PairedData made by hand, with a lambda framing: the trainer refuses it at once
    data = from_tonic(train, augment=[OnFrames(blur_frames)], **options(tmp_path))
    data.train.framing = lambda events: ToFrame((34, 34, 2), n_time_bins=3)(events)
    config = TransferConfig.from_dict(
        {"mode": "baseline", "time_steps": 3, "epochs": 1, "data": {"batch_size": 4}}
    )
    with pytest.raises(ConfigError, match="train split's framing .*<lambda>.*top-level"):
        Trainer(config, tmp_path / "run", data=data, progress=False, quiet=True)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_one_epoch_by_name_in_a_recipe_and_as_an_object(tmp_path, tree):
    recipe = {
        "mode": "baseline",
        "epochs": 1,
        "time_steps": 3,
        "data": {
            "dataset": "tonic",
            "options": {"name": "NMNIST", "save_to": str(tree), "progress": False},
            "batch_size": 5,
        },
        "optim": {"warmup_epochs": 0},
    }
    result = Trainer(
        TransferConfig.from_dict(recipe), tmp_path / "named", progress=False, quiet=True
    ).fit()
    assert result["best_epoch"] == 1 and 0 <= result["test_acc"] <= 1
    assert (tmp_path / "named" / "best.pt").exists()
    # the object, straight into the trainer (the run's time_steps and seed; default cache)
    train = open_tonic("NMNIST", tree, train=True)
    plain = TransferConfig.from_dict({**recipe, "data": {"batch_size": 5}})
    trainer = Trainer(plain, tmp_path / "object", data=train, progress=False, quiet=True)
    assert isinstance(trainer.data, PairedData) and trainer.data.frame_shape == (3, 2, 34, 34)
    assert trainer.fit()["best_epoch"] == 1
    assert list((tmp_path / "default-cache" / "frames").glob("tonic-NMNIST-*.h5"))
    # no static images: the transfer mode says so, with what to pass
    transfer = TransferConfig.from_dict({**recipe, "mode": "transfer", "data": {"batch_size": 5}})
    with pytest.raises(DatasetError, match="no static images.*static_root=<MNIST images>"):
        Trainer(transfer, data=train, progress=False, quiet=True)


class Recordings:
    """A map-style dataset in memory, Tonic's way: sensor_size, classes, (events, target)."""

    sensor_size = (16, 12, 2)
    classes = ["left", "right"]

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.items = [(events_in(rng, 50, 16, 12), k % 2) for k in range(8)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        return self.items[index]


def test_any_map_style_dataset_in_index_order_with_a_carved_test_split(tmp_path):
    data = load_dataset(Recordings(), val_fraction=0, test_fraction=0.25, **options(tmp_path))
    assert data.classes == ("left", "right") and data.frame_shape == (3, 2, 12, 16)
    assert data.test.names == ["6", "7"] and data.train.names == ["0", "1", "2", "3", "4", "5"]
    assert data.info["tonic"]["order"].startswith("by index")
    expected = ToFrame((16, 12, 2), n_time_bins=3)(Recordings()[7][0])
    assert np.array_equal(data.test[1][0], expected) and data.test[1][1] == 1
    # without files the samples' contents key the cache
    changed = Recordings()
    changed.items[0] = (events_in(np.random.default_rng(5), 50, 16, 12), 0)
    other = load_dataset(changed, val_fraction=0, test_fraction=0.25, **options(tmp_path))
    assert other.info["cache"]["train"] != data.info["cache"]["train"]
    assert other.info["cache"]["test"] == data.info["cache"]["test"]
    with pytest.raises(ConfigError, match="static_source"):
        load_dataset(Recordings(), static_root=tmp_path, **options(tmp_path))


def test_tonic_ncaltech101_pairs_with_caltech_images_under_the_twin_rule(tmp_path):
    from test_recorded_fakes import write_caltech_images, write_ncaltech

    rng = np.random.default_rng(6)
    events = write_ncaltech(tmp_path / "data" / "NCALTECH101", rng, events=20)
    images = write_caltech_images(tmp_path / "images", rng)
    common = options(tmp_path, size=8, static_root=images)
    data = load_dataset("tonic", name="NCALTECH101", save_to=tmp_path / "data", **common)
    ours = load_dataset("n-caltech101", root=events, **common)
    assert data.classes == ours.classes and data.sensor_size is None  # Tonic's: per recording
    assert [n.removeprefix("Caltech101/") for n in data.test.names] == ours.test.names
    assert data.val.labels.tolist() == ours.val.labels.tolist()
    # the twins of the training recordings only, as the n-caltech101 entry pairs them
    assert data.static_pool.indices.tolist() == ours.static_pool.indices.tolist()
    assert data.frame_shape == (3, 2, 8, 8)
