"""The dataset registry and the offline entries built from static images and the emulator."""

from __future__ import annotations

import numpy as np
import pytest
from idx_files import write_idx

from snn_transfer.errors import ConfigError, DatasetError
from snn_transfer.events.datasets import dataset_entry, dataset_names, load_dataset


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return load_dataset("digits", per_class=20, time_steps=4, cache_dir=cache, progress=False)


def test_registry_lists_offline_entries_and_their_options():
    assert {"digits", "mnist", "fashion-mnist"} <= set(dataset_names())
    options = dataset_entry("digits").options()
    assert options["time_steps"] == 8 and options["event_fraction"] == 1.0
    with pytest.raises(
        ConfigError, match="unknown dataset 'nope'; available: .*digits.*n-caltech101"
    ):
        load_dataset("nope")
    with pytest.raises(ConfigError, match="no option 'time_step'.*time_steps"):
        load_dataset("digits", time_step=3)


def test_digits_splits_are_disjoint_and_static_images_never_become_events(digits):
    names = digits.train.events.names
    split_names = [
        {names[i] for i in part.indices} for part in (digits.train, digits.val, digits.test)
    ]
    assert all(a.isdisjoint(b) for i, a in enumerate(split_names) for b in split_names[i + 1 :])
    # 20 images per class: 10 static, 10 emulated -> 6 / 2 / 2
    assert [len(p) for p in (digits.train, digits.val, digits.test)] == [60, 20, 20]
    assert len(digits.static_pool) == 100
    event_names = set(names)
    # static image names and event image names come from the same source: disjoint
    from snn_transfer.events.static import load_digits

    static_names = {load_digits().names[i] for i in digits.static_pool.indices}
    assert static_names.isdisjoint(event_names)


def test_digits_samples_have_the_frame_shape_and_real_events(digits):
    frames, label = digits.train[0]
    assert frames.shape == digits.frame_shape == (4, 2, 34, 34)
    assert frames.dtype == np.float32
    events, stored = digits.train.events[int(digits.train.indices[0])]
    assert label == stored and frames.sum() == len(events) > 1000


def test_paired_partner_has_the_same_class_and_sits_on_the_sensor(digits):
    from snn_transfer.events.static import load_digits

    source = load_digits()
    paired = digits.paired(seed=3)
    for i in range(len(paired)):
        frames, static, label = paired[i]
        assert static.shape == frames.shape
        partner = paired.partner(i, label)
        assert source.labels[partner] == label
        # the 28x28 image sits at the centre of the 34x34 sensor: a 3-pixel empty border
        assert static[:, :, :3].sum() == 0 and static[:, :, :, -3:].sum() == 0
        assert np.allclose(static[0, 0, 3:31, 3:31], source.image(partner) / 255.0, atol=1e-6)
        assert np.array_equal(static[0], static[-1])


def test_event_fraction_keeps_a_per_class_subset(tmp_path, digits):
    small = load_dataset(
        "digits",
        per_class=20,
        time_steps=4,
        event_fraction=0.5,
        cache_dir=tmp_path,
        progress=False,
    )
    assert len(small.train) == 30
    assert set(small.train.indices) <= set(digits.train.indices)
    assert np.bincount(small.train.labels).tolist() == [3] * 10
    with pytest.raises(ConfigError, match="event_fraction = 0"):
        load_dataset("digits", event_fraction=0, cache_dir=tmp_path)


def test_emulated_events_are_cached_by_fingerprint(tmp_path, monkeypatch):
    first = load_dataset("digits", per_class=5, cache_dir=tmp_path, progress=False)
    files = sorted((tmp_path / "emulated").iterdir())
    assert len(files) == 1 and files[0].suffix == ".h5"

    import snn_transfer.events.emulated.cached as emulated

    def fail(*args, **kwargs):
        raise AssertionError("re-emulated although cached")

    monkeypatch.setattr(emulated, "write_emulated", fail)
    again = load_dataset("digits", per_class=5, cache_dir=tmp_path, progress=False)
    assert np.array_equal(again.train[0][0], first.train[0][0])
    monkeypatch.undo()
    load_dataset("digits", per_class=5, seed=1, cache_dir=tmp_path, progress=False)
    assert len(list((tmp_path / "emulated").iterdir())) == 2


def test_mnist_entry_reads_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    images = np.zeros((40, 28, 28), np.uint8)
    images[:, 8:20, 10:18] = rng.integers(100, 255, (40, 12, 8))
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(40) % 10)
    data = load_dataset(
        "mnist", root=str(tmp_path), time_steps=2, cache_dir=tmp_path / "c", progress=False
    )
    assert len(data.static_pool) == 20 and len(data.train) + len(data.val) + len(data.test) == 20
    assert data.classes[3] == "3 - three"
    with pytest.raises(DatasetError):
        load_dataset("mnist", root=str(tmp_path / "missing"), cache_dir=tmp_path / "c")


def _cli(*args, cwd):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "snn_transfer.events.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_snn_events_emulate_writes_an_event_dataset(tmp_path):
    from snn_transfer.events.io.event_dataset import EventDataset

    out = tmp_path / "digits.h5"
    result = _cli("emulate", "--images", "digits", "--out", str(out), "--limit", "12", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "wrote 12 emulated recordings" in result.stdout
    data = EventDataset(out)
    assert len(data) == 12 and data.sensor_size == (34, 34, 2)
    assert data.classes[:2] == ("0 - zero", "1 - one") and len(data.classes) == 10
    assert data.labels.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    events, label = data[0]
    assert len(events) > 1000 and label == 0
    assert not list(tmp_path.glob("*.partial"))

    missing = _cli("emulate", "--images", "mnist", "--out", str(out), cwd=tmp_path)
    assert missing.returncode == 1
    assert "--images mnist needs --root DIR" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_snn_events_datasets_lists_layouts(tmp_path):
    result = _cli("datasets", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "digits" in result.stdout and "layout:" in result.stdout
    assert "fashion-mnist" in result.stdout


def test_static_scale_multiplies_the_static_inputs(digits, tmp_path):
    scaled = load_dataset(
        "digits",
        per_class=20,
        time_steps=4,
        static_scale=4.0,
        cache_dir=digits.info["event_file"].rsplit("/emulated/", 1)[0],
        progress=False,
    )
    assert np.allclose(scaled.static_planes, 4.0 * digits.static_planes, atol=1e-5)
    assert scaled.static_planes.max() > 1.5


# --- recorded datasets on fake folder trees: missing, empty and mismatched classes --------


def _folder_tree(root, classes, per_class=2, seed=0):
    from test_recorded_fakes import events_in

    from snn_transfer.events.io import write_events

    rng = np.random.default_rng(seed)
    for cls in classes:
        (root / cls).mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            write_events(root / cls / f"rec{k}.h5", events_in(rng, 50, 16, 16), "hdf5", (16, 16, 2))
    return root


def _load_folder(root, **options):
    return load_dataset(
        "folder", root=root, time_steps=2, size=None, cache=False, progress=False, **options
    )


def test_an_empty_class_folder_is_reported_with_the_root_and_the_class(tmp_path):
    root = _folder_tree(tmp_path / "rec", ["a", "b"])
    (root / "c").mkdir()
    with pytest.raises(DatasetError) as caught:
        _load_folder(root)
    assert str(caught.value).startswith(
        f"folder: under {root}, 1 of 3 classes have no recordings (empty or missing class "
        "folders): c; every class needs at least one training recording\n"
        f"expected layout under root={root}:"
    )


def test_a_class_only_in_the_test_folder_is_reported(tmp_path):
    _folder_tree(tmp_path / "rec" / "train", ["a", "b"])
    _folder_tree(tmp_path / "rec" / "test", ["a", "b", "c"], per_class=1)
    with pytest.raises(
        DatasetError,
        match=r"classes with no recording in the train split: c \(1 outside train\); every "
        r"class needs at least one training recording",
    ):
        _load_folder(tmp_path / "rec")


def test_nmnist_with_an_empty_train_digit_folder_is_reported(tmp_path):
    from test_recorded_fakes import write_nmnist

    root = write_nmnist(tmp_path / "nm", np.random.default_rng(0), per_digit=1)
    for file in (root / "NMNIST" / "Train" / "7").iterdir():
        file.unlink()
    with pytest.raises(DatasetError) as caught:
        load_dataset("n-mnist", root=root, time_steps=2, cache=False, progress=False)
    assert f"n-mnist: under {root}, classes with no recording in the train split: " in str(
        caught.value
    )
    assert "7 - seven (1 outside train)" in str(caught.value)


def test_ncaltech_with_an_empty_class_folder_names_the_folder_and_the_class(tmp_path):
    from test_recorded_fakes import write_ncaltech

    root = write_ncaltech(tmp_path / "nc", np.random.default_rng(0), events=20)
    for file in (root / "Caltech101" / "emu").iterdir():
        file.unlink()
    with pytest.raises(
        DatasetError, match=rf"1 of 101 classes have no files under {root / 'Caltech101'}: emu"
    ):
        load_dataset("n-caltech101", root=root, cache=False, progress=False)


def test_static_class_folders_that_do_not_match_the_event_classes_are_listed(tmp_path):
    from test_recorded_fakes import write_png

    root = _folder_tree(tmp_path / "rec", ["a", "b", "c"])
    rng = np.random.default_rng(1)
    for cls in ("a", "B", "c", "extra"):  # "B": the folder of b, misnamed
        write_png(tmp_path / "img" / cls / "rec0.png", rng)
    with pytest.raises(DatasetError) as caught:
        _load_folder(root, static_root=tmp_path / "img")
    message = str(caught.value)
    assert f"no images for classes ['b'] under {tmp_path / 'img'}" in message
    assert message.endswith(
        f"class folders under {tmp_path / 'img'}: 4; event classes without a folder there: "
        "['b']; folders that are no event class: ['B', 'extra']"
    )


def test_an_empty_static_class_folder_is_named(tmp_path):
    from test_recorded_fakes import write_png

    root = _folder_tree(tmp_path / "rec", ["a", "b"])
    write_png(tmp_path / "img" / "a" / "rec0.png", np.random.default_rng(1))
    (tmp_path / "img" / "b").mkdir()
    with pytest.raises(DatasetError) as caught:
        _load_folder(root, static_root=tmp_path / "img")
    message = str(caught.value)
    assert f"no images for classes ['b'] under {tmp_path / 'img'}" in message
    assert "without a folder" not in message  # the folder is there, only empty


def test_validation_split_leaves_every_class_a_training_sample():
    from snn_transfer.events.splits import validation_split

    labels = np.array([0, 0, 1, 1, 1, 2])
    train, val = validation_split(labels, 0.75, seed=0)
    # round(0.75 * 2) = 2 would move both samples of class 0 to validation
    assert np.bincount(labels[train]).tolist() == [1, 1, 1]
    assert np.bincount(labels[val]).tolist() == [1, 2]
    assert sorted([*train, *val]) == list(range(6))
