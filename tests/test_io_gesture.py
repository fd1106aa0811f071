"""DVS128 Gesture .npy as Tonic ships it: equality with tonic.datasets.DVSGesture, damage."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from test_io_fakes import random_events

from snn_transfer.errors import EventFormatError
from snn_transfer.events.core import EVENT_DTYPE
from snn_transfer.events.io import iter_gesture_npy, read_gesture_npy, write_gesture_npy


def rows_file(path, rows, dtype=np.int64) -> None:
    np.save(path, np.asarray(rows, dtype=dtype))


def test_round_trip_and_units(tmp_path, rng):
    events = random_events(rng, 3000, (128, 128, 2), t_max=6_000_000, t_unit=1000)
    path = tmp_path / "s.npy"
    write_gesture_npy(path, events)
    stored = np.load(path)
    assert stored.shape == (3000, 4) and stored.dtype == np.int64
    np.testing.assert_array_equal(stored[:, 3] * 1000, events["t"])  # ms on disk
    recording = read_gesture_npy(path)
    assert recording.events.dtype == EVENT_DTYPE and recording.sensor_size == (128, 128, 2)
    np.testing.assert_array_equal(recording.events, events)


def test_equals_tonic_dvsgesture_getitem(tmp_path, rng):
    tonic = pytest.importorskip("tonic")
    gesture = tonic.datasets.DVSGesture
    folder = tmp_path / "DVSGesture" / "ibmGestureTest" / "user24_led"
    folder.mkdir(parents=True)
    written = {}
    for label in (3, 10):
        events = random_events(rng, 400 + label, (128, 128, 2), t_max=6_000_000, t_unit=1000)
        write_gesture_npy(folder / f"{label}.npy", events)
        written[label] = events
    with (
        mock.patch.object(gesture, "_check_exists", return_value=True),
        mock.patch.object(gesture, "download", side_effect=AssertionError("no network")),
    ):
        dataset = gesture(save_to=str(tmp_path), train=False)
        assert len(dataset) == 2
        for index in range(2):
            theirs, target = dataset[index]
            ours = read_gesture_npy(dataset.data[index]).events
            np.testing.assert_array_equal(ours, written[target])
            assert len(ours) == len(theirs)
            for field in "xytp":
                np.testing.assert_array_equal(ours[field], theirs[field].astype(np.int64))


@pytest.mark.parametrize("chunk", [1, 100, 1 << 20])
def test_chunks_equal_the_full_read(tmp_path, rng, chunk):
    events = random_events(rng, 777, (128, 128, 2), t_unit=1000)
    path = tmp_path / "c.npy"
    write_gesture_npy(path, events)
    chunks = list(iter_gesture_npy(path, chunk))
    assert all(0 < len(c) <= chunk for c in chunks)
    np.testing.assert_array_equal(np.concatenate(chunks), events)


def test_whole_number_floats_are_accepted(tmp_path):
    path = tmp_path / "f.npy"
    rows_file(path, [[1, 2, 1, 5], [3, 4, 0, 6]], dtype=np.float32)
    assert read_gesture_npy(path).events.tolist() == [(1, 2, 5000, 1), (3, 4, 6000, 0)]
    rows_file(path, [[1, 2, 1, 5.5]], dtype=np.float64)
    with pytest.raises(EventFormatError, match="t = 5.5 outside"):
        read_gesture_npy(path)


def test_empty_sample(tmp_path):
    path = tmp_path / "e.npy"
    rows_file(path, np.zeros((0, 4)))
    assert len(read_gesture_npy(path).events) == 0


@pytest.mark.parametrize(
    ("rows", "message", "index"),
    [
        ([[1, 1, 0, 1], [128, 1, 0, 2]], "x = 128 outside 0..127", 1),
        ([[1, 1, 0, 1], [1, -3, 0, 2]], "y = -3 outside", 1),
        ([[1, 1, 2, 1]], "p = 2 outside 0..1", 0),
        ([[1, 1, 0, -1]], "t = -1 outside", 0),
        ([[1, 1, 0, 5], [1, 1, 0, 4]], r"goes back in time \(5000 -> 4000 us\)", 1),
        ([[70000, 1, 0, 5]], "x = 70000 outside", 0),  # would wrap in int16
    ],
)
def test_values_are_checked_before_narrowing(tmp_path, rows, message, index):
    path = tmp_path / "v.npy"
    rows_file(path, rows)
    with pytest.raises(EventFormatError, match=message) as info:
        read_gesture_npy(path)
    assert info.value.index == index and str(path) in str(info.value)


def test_bad_files(tmp_path):
    path = tmp_path / "b.npy"
    rows_file(path, np.zeros((5, 3), np.int64))
    with pytest.raises(EventFormatError, match=r"\[N, 4\].*shape \(5, 3\)"):
        read_gesture_npy(path)
    np.save(path, np.array([{"x": 1}] * 4, dtype=object).reshape(1, 4), allow_pickle=True)
    with pytest.raises(EventFormatError, match="integer array .*'descr': '[|]O'"):
        read_gesture_npy(path)
    path.write_bytes(b"not numpy at all")
    with pytest.raises(EventFormatError, match="not a valid .npy file") as info:
        read_gesture_npy(path)
    assert info.value.offset == 0


def test_truncated_and_trailing_data(tmp_path):
    path = tmp_path / "t.npy"
    rows_file(path, np.ones((10, 4)))
    data = path.read_bytes()
    path.write_bytes(data[:-5])
    with pytest.raises(EventFormatError, match="truncated: .*10 rows") as info:
        read_gesture_npy(path)
    assert info.value.offset == len(data) - 5
    path.write_bytes(data + b"junk")
    with pytest.raises(EventFormatError, match="trailing bytes"):
        read_gesture_npy(path)


def test_writer_needs_whole_milliseconds(tmp_path):
    events = np.zeros(2, EVENT_DTYPE)
    events["t"] = [1000, 1500]
    with pytest.raises(EventFormatError, match="multiple of 1000") as info:
        write_gesture_npy(tmp_path / "w.npy", events)
    assert info.value.index == 1
    assert not list(tmp_path.iterdir())
