"""ST-MNIST .mat files: the real sample against the decoding of Tonic's former STMNIST
dataset (restated here as a plain loop), fakes, and damage."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import sample_file
from native_layouts import write_stmnist_mat
from test_io_fakes import random_events

from snn_transfer.errors import EventFormatError
from snn_transfer.events.core import make_events
from snn_transfer.events.io import describe, detect_format, iter_events, read_events

scipy_io = pytest.importorskip("scipy.io")


def loop_decoding(path) -> list[tuple[int, int, int, int]]:
    """Tonic's STMNIST conversion, one entry at a time: every nonzero taxel of a column is
    an event at (taxel % 10, taxel // 10), t = int(seconds * 1e6), p = max(value, 0)."""
    matrix = scipy_io.loadmat(path)["spiketrain"]
    out = []
    for column in range(matrix.shape[1]):
        for taxel in range(100):
            value = matrix[taxel, column]
            if value != 0:
                t = int(matrix[100, column] * 1e6)
                out.append((taxel % 10, taxel // 10, t, int(max(value, 0))))
    return out


def test_real_stmnist_sample_equals_tonics_decoding():
    path = sample_file("sample_stmnist.mat")
    assert detect_format(path) == "stmnist-mat"
    recording = read_events(path)
    assert recording.sensor_size == (10, 10, 2) and recording.format == "stmnist-mat"
    assert recording.events.tolist() == loop_decoding(path)
    events = recording.events
    assert len(events) == 2346
    assert (int(events["t"][0]), int(events["t"][-1])) == (196_626, 895_744)
    assert int(events["p"].sum()) == 1601
    info = describe(path)
    assert info["on_share"] == 0.6824 and info["extent"] == "x 0..9, y 0..8"
    np.testing.assert_array_equal(np.concatenate(list(iter_events(path, chunk_size=100))), events)


def test_fake_round_trips_and_several_taxels_per_column(tmp_path, rng):
    events = random_events(rng, 500, (10, 10, 2), t_max=900_000)
    path = tmp_path / "f.mat"
    write_stmnist_mat(path, events)
    np.testing.assert_array_equal(read_events(path).events, events)
    # one column with three taxels: events in taxel order, one time
    matrix = np.zeros((101, 2))
    matrix[[3, 12, 99], 0] = [1, -1, 1]
    matrix[0, 1] = -1
    matrix[100] = [0.5, 0.6]
    scipy_io.savemat(path, {"spiketrain": matrix})
    assert read_events(path).events.tolist() == [
        (3, 0, 500_000, 1),
        (2, 1, 500_000, 0),
        (9, 9, 500_000, 1),
        (0, 0, 600_000, 0),
    ]
    matrix[100] = [0.000249, 0.6]  # 0.000249 * 1e6 = 248.99999999999997 in floating point
    scipy_io.savemat(path, {"spiketrain": matrix})
    assert read_events(path).events["t"].tolist()[0] == 249  # not truncated to 248


def test_damaged_and_foreign_mat_files_name_the_file(tmp_path):
    path = tmp_path / "d.mat"
    cases = {
        "no 'spiketrain' variable .*holds x, ts": {"x": np.arange(3), "ts": np.arange(3)},
        r"must be a \[101, N\] numeric matrix.*\(100, 2\)": {"spiketrain": np.zeros((100, 2))},
        "taxel 4 of column 1 holds 2.0": {"spiketrain": _matrix(value=2.0)},
        "column 0 has the time nan s": {"spiketrain": _matrix(time=np.nan)},
        "column 0 has the time -1.0 s": {"spiketrain": _matrix(time=-1.0)},
    }
    for message, content in cases.items():
        scipy_io.savemat(path, content)
        with pytest.raises(EventFormatError, match=message) as info:
            read_events(path)
        assert str(path) in str(info.value)

    matrix = _matrix()
    matrix[100] = [0.5, 0.25]
    scipy_io.savemat(path, {"spiketrain": matrix})
    with pytest.raises(EventFormatError, match="back in time") as info:
        read_events(path)
    assert info.value.index == 1

    scipy_io.savemat(path, {"spiketrain": _matrix()})
    data = path.read_bytes()
    for damaged in (data[: len(data) // 2], data[:128], b""):
        path.write_bytes(damaged)
        with pytest.raises(EventFormatError) as info:
            read_events(path)
        assert str(path) in str(info.value)

    path.write_bytes(b"MATLAB 7.3 MAT-file, Platform: GLNXA64" + bytes(600))
    with pytest.raises(EventFormatError, match=r"MATLAB 7.3 \(HDF5\).*-v7"):
        read_events(path)


def _matrix(value: float = 1.0, time: float = 0.5) -> np.ndarray:
    matrix = np.zeros((101, 2))
    matrix[7, 0] = 1
    matrix[4, 1] = value
    matrix[100] = [time, 0.75]
    return matrix


def test_sensor_size_argument_checks_coordinates(tmp_path):
    path = tmp_path / "s.mat"
    write_stmnist_mat(path, make_events([9], [2], [5], [1]))
    with pytest.raises(EventFormatError, match="x = 9 outside the sensor"):
        read_events(path, sensor_size=(5, 5, 2))
