"""Chunked framing of files: equal to framing the whole stream, with bounded memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from snn_transfer.errors import EventFormatError
from snn_transfer.events.core import make_events
from snn_transfer.events.framing import ToFrame, frame_file, to_frame
from snn_transfer.events.io import read_events, write_atis, write_hdf5_events

SENSOR = (34, 34, 2)


def stream(n: int, seed: int = 0, span: int = 300_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, span, n))
    t[n // 3 : n // 3 + 50] = t[n // 3]  # a run of equal timestamps across chunk edges
    return make_events(rng.integers(0, 34, n), rng.integers(0, 34, n), t, rng.integers(0, 2, n))


@pytest.fixture(scope="module")
def atis_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("stream") / "rec.bin"
    write_atis(path, stream(20_000))
    return path


MODES = [
    {"n_time_bins": 10},
    {"n_time_bins": 7, "overlap": 0.25},
    {"n_event_bins": 6, "overlap": 0.5},
    {"time_window": 10_000},
    {"time_window": 9_999.5, "overlap": 2_000, "include_incomplete": True},
    {"time_window": 50_000, "start_time": 1_000, "end_time": 200_000},
    {"event_count": 3_000, "overlap": 500, "include_incomplete": True},
]


@pytest.mark.parametrize("mode", MODES, ids=lambda m: "-".join(f"{k}={v}" for k, v in m.items()))
@pytest.mark.parametrize("chunk_size", [997, 20_000])
@pytest.mark.parametrize("n_pol", [1, 2])
def test_chunked_equals_whole(atis_file, mode, chunk_size, n_pol):
    spec = ToFrame((34, 34, n_pol), **mode)
    whole = to_frame(read_events(atis_file).events, spec)
    np.testing.assert_array_equal(frame_file(atis_file, spec, chunk_size=chunk_size), whole)


def test_empty_file_and_errors_name_the_file_and_the_index(tmp_path):
    empty = tmp_path / "empty.h5"
    write_hdf5_events(empty, make_events([], [], [], []), SENSOR)
    spec = ToFrame(SENSOR, n_time_bins=3)
    np.testing.assert_array_equal(frame_file(empty, spec), np.zeros((3, 2, 34, 34), np.float32))
    bad = stream(5_000, seed=1)
    bad["x"][3_210] = 40  # outside a 34-pixel sensor, in the fourth chunk of 1000
    path = tmp_path / "bad.h5"
    write_hdf5_events(path, bad, (64, 64, 2))
    with pytest.raises(EventFormatError, match=r"bad\.h5, event 3210: coordinate x = 40") as e:
        frame_file(path, spec, chunk_size=1_000)
    assert e.value.index == 3_210


def test_memory_is_bounded_by_the_chunk_not_the_file(tmp_path):
    n, chunk = 3_000_000, 50_000
    path = tmp_path / "big.bin"
    write_atis(path, stream(n, seed=2, span=60_000_000))
    spec = ToFrame(SENSOR, n_time_bins=10)
    frames_bytes = 10 * 2 * 34 * 34 * 4
    tracemalloc.start()
    chunked = frame_file(path, spec, chunk_size=chunk)
    chunked_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    tracemalloc.start()
    whole = to_frame(read_events(path).events, spec)
    whole_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_array_equal(chunked, whole)
    bound = 40 * chunk + 2 * frames_bytes + 2**20  # the module docstring's bound, + 1 MiB
    print(f"peak {chunked_peak / 2**20:.1f} MiB chunked vs {whole_peak / 2**20:.1f} MiB whole")
    assert chunked_peak < bound
    assert whole_peak > 16 * n  # the whole stream was in memory there
