"""Our HDF5 files: kind 'events' and kind 'event-dataset' (writer, lazy reader)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from test_io_fakes import random_events

from snn_transfer.errors import EventFormatError
from snn_transfer.events.core import EVENT_DTYPE, make_events
from snn_transfer.events.io import (
    EventDataset,
    EventDatasetWriter,
    describe,
    iter_hdf5_events,
    read_events,
    read_hdf5_events,
    write_hdf5_events,
)

h5py = pytest.importorskip("h5py")


def test_events_round_trip_and_layout(tmp_path, rng):
    events = random_events(rng, 2000, (240, 180, 2))
    path = tmp_path / "e.h5"
    write_hdf5_events(path, events, (240, 180, 2), source="N-Caltech101 airplanes/0001")
    with h5py.File(path) as file:
        assert file.attrs["kind"] == b"events"
        assert file.attrs["source"].decode() == "N-Caltech101 airplanes/0001"
        assert file.attrs["sensor_size"].tolist() == [240, 180, 2]
        assert {name: file[name].dtype for name in "xytp"} == {
            "x": np.int16,
            "y": np.int16,
            "t": np.int64,
            "p": np.int8,
        }
    recording = read_hdf5_events(path)
    assert recording.sensor_size == (240, 180, 2) and recording.format == "hdf5"
    np.testing.assert_array_equal(recording.events, events)
    chunks = list(iter_hdf5_events(path, 300))
    assert max(len(c) for c in chunks) == 300
    np.testing.assert_array_equal(np.concatenate(chunks), events)


def test_events_without_sensor_size(tmp_path, rng):
    path = tmp_path / "n.h5"
    write_hdf5_events(path, random_events(rng, 10, (34, 34, 2)))
    assert read_hdf5_events(path).sensor_size is None
    assert describe(path)["sensor_size"] is None


def foreign_file(path, kind="events", **columns) -> None:
    with h5py.File(path, "w") as file:
        if kind is not None:
            file.attrs["kind"] = kind
        file.attrs["sensor_size"] = [34, 34, 2]
        for name, values in columns.items():
            file[name] = np.asarray(values)


def test_damaged_or_foreign_files(tmp_path):
    path = tmp_path / "f.h5"
    foreign_file(path, kind=None, x=[1], y=[1], t=[1], p=[1])
    with pytest.raises(EventFormatError, match="without a root 'kind'"):
        read_hdf5_events(path)
    foreign_file(path, x=[1, 2], y=[1], t=[1], p=[1])
    with pytest.raises(EventFormatError, match="differ in length"):
        read_hdf5_events(path)
    foreign_file(path, x=[1], y=[1], t=[1])
    with pytest.raises(EventFormatError, match="'p' missing"):
        read_hdf5_events(path)
    foreign_file(path, x=np.array([1, 70000], np.int32), y=[1, 1], t=[1, 2], p=[0, 1])
    with pytest.raises(EventFormatError, match="x = 70000 does not fit int16") as info:
        read_hdf5_events(path)
    assert info.value.index == 1
    foreign_file(path, x=[1, 40], y=[1, 1], t=[1, 2], p=[0, 1])
    with pytest.raises(EventFormatError, match="x = 40 outside the sensor"):
        read_hdf5_events(path)
    foreign_file(path, x=[1, 2], y=[1, 1], t=[5, 2], p=[0, 1])
    with pytest.raises(EventFormatError, match=r"back in time \(5 -> 2 us\)"):
        read_hdf5_events(path)
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(50))
    with pytest.raises(EventFormatError, match="HDF5 library cannot read it") as info:
        read_hdf5_events(path)
    assert str(path) in str(info.value)


def write_dataset(path, rng, sizes=(30, 0, 55), classes=("cat", "dog", "émeu")):
    samples = []
    with EventDatasetWriter(path, (64, 48, 2), classes, source="test", chunk_events=16) as writer:
        assert writer.partial.exists() and not path.exists()
        for i, n in enumerate(sizes):
            events = random_events(rng, n, (64, 48, 2))
            label = i % len(classes)
            assert writer.append(events, label, f"{classes[label]}/sample_{i}") == i
            samples.append((events, label))
    assert path.exists() and not writer.partial.exists()
    return samples


def test_event_dataset_round_trip(tmp_path, rng):
    path = tmp_path / "d.h5"
    samples = write_dataset(path, rng)
    dataset = EventDataset(path)
    assert len(dataset) == 3
    assert dataset.classes == ("cat", "dog", "émeu")
    assert dataset.names == ("cat/sample_0", "dog/sample_1", "émeu/sample_2")
    assert dataset.sensor_size == (64, 48, 2)
    assert dataset.offsets.tolist() == [0, 30, 30, 85] and dataset.labels.tolist() == [0, 1, 2]
    for i, (events, label) in enumerate(samples):
        got, got_label = dataset[i]
        assert got.dtype == EVENT_DTYPE and got_label == label
        np.testing.assert_array_equal(got, events)
    np.testing.assert_array_equal(dataset[-1][0], samples[-1][0])
    with pytest.raises(IndexError):
        dataset[3]
    info = describe(path)
    assert info["format"] == "hdf5 (event-dataset)"
    assert (info["samples"], info["classes"], info["events"]) == (3, 3, 85)


def test_event_dataset_pickles_without_its_handle(tmp_path, rng):
    path = tmp_path / "d.h5"
    samples = write_dataset(path, rng)
    dataset = EventDataset(path)
    dataset[0]  # opens the handle in this process
    assert dataset._file is not None
    clone = pickle.loads(pickle.dumps(dataset))
    assert clone._file is None
    np.testing.assert_array_equal(clone[2][0], samples[2][0])
    dataset.close()
    np.testing.assert_array_equal(dataset[0][0], samples[0][0])  # reopens


def test_writer_failure_leaves_nothing_behind(tmp_path, rng):
    path = tmp_path / "d.h5"
    with (
        pytest.raises(RuntimeError, match="conversion failed"),
        EventDatasetWriter(path, (64, 48, 2), ["a"]) as writer,
    ):
        writer.append(random_events(rng, 10, (64, 48, 2)), 0, "one")
        raise RuntimeError("conversion failed")
    assert not list(tmp_path.iterdir())


def test_writer_checks_samples(tmp_path, rng):
    path = tmp_path / "d.h5"
    with EventDatasetWriter(path, (64, 48, 2), ["a", "b"]) as writer:
        with pytest.raises(EventFormatError, match="label 2 outside 0..1"):
            writer.append(random_events(rng, 5, (64, 48, 2)), 2, "x")
        with pytest.raises(EventFormatError, match="sample 'big'.*outside the sensor"):
            writer.append(make_events([100], [1], [0], [0]), 0, "big")
        writer.append(random_events(rng, 5, (64, 48, 2)), 1, "ok")
        with pytest.raises(EventFormatError, match="appended twice"):
            writer.append(random_events(rng, 5, (64, 48, 2)), 1, "ok")
    assert len(EventDataset(path)) == 1


def test_event_dataset_is_not_a_single_stream(tmp_path, rng):
    path = tmp_path / "d.h5"
    write_dataset(path, rng)
    with pytest.raises(EventFormatError, match="kind 'event-dataset'.*EventDataset"):
        read_events(path)
    single = tmp_path / "s.h5"
    write_hdf5_events(single, random_events(rng, 5, (64, 48, 2)), (64, 48, 2))
    with pytest.raises(EventFormatError, match="not 'event-dataset'"):
        EventDataset(single)


def test_inconsistent_offsets_are_reported(tmp_path, rng):
    path = tmp_path / "d.h5"
    write_dataset(path, rng)
    with h5py.File(path, "r+") as file:
        file["offsets"][-1] = 99
    with pytest.raises(EventFormatError, match="inconsistent event dataset: offsets span"):
        EventDataset(path)


def test_describe_reads_a_frame_cache_without_loading_frames(tmp_path):
    path = tmp_path / "cache.h5"
    with h5py.File(path, "w") as file:
        file.attrs["kind"] = "frames"
        file.attrs["sensor_size"] = [48, 48, 2]
        file.create_dataset("frames", (7, 10, 2, 48, 48), dtype=np.float32)
        file["labels"] = np.arange(7)
    info = describe(path)
    assert info["format"] == "hdf5 (frames)" and info["sensor_size"] == (48, 48, 2)
    assert (info["samples"], info["frame_shape"], info["dtype"]) == (7, (10, 2, 48, 48), "float32")
    with pytest.raises(EventFormatError, match="kind 'frames'.*frame cache"):
        read_events(path)
