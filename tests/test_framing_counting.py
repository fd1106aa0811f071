"""The counting core: the one-pass count of consecutive frames equals the frame-by-frame
loop in every mode, and the checked timestamps come back as a contiguous copy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snn_transfer.events.core import make_events
from snn_transfer.events.framing import ExtentFrames, ToFrame, counting
from snn_transfer.events.framing.chunked import frame_file
from snn_transfer.events.framing.counting import accumulate, check_stream
from snn_transfer.events.io import write_atis

MODES = [
    {"n_time_bins": 10},
    {"n_time_bins": 3, "overlap": 0.5},
    {"n_event_bins": 4},
    {"n_event_bins": 5, "overlap": 0.25},
    {"event_count": 7},
    {"event_count": 6, "overlap": 2, "include_incomplete": True},
    {"time_window": 500},
    {"time_window": 400, "overlap": 100, "include_incomplete": True},
]


def stream(rng: np.random.Generator, n: int, width: int, height: int) -> np.ndarray:
    t = 10 + np.cumsum(rng.integers(0, 40, n))
    return make_events(
        rng.integers(0, width, n), rng.integers(0, height, n), t, rng.integers(0, 2, n)
    )


def loop_only(monkeypatch) -> None:
    monkeypatch.setattr(counting, "SINGLE_PASS_EVENTS", -1)


@pytest.mark.parametrize("mode", MODES, ids=lambda m: ",".join(f"{k}={v}" for k, v in m.items()))
@pytest.mark.parametrize("n", [0, 1, 2, 57, 4325])
@pytest.mark.parametrize("polarities", [1, 2])
def test_one_pass_equals_the_frame_loop(monkeypatch, mode, n, polarities):
    events = stream(np.random.default_rng(n), n, 34, 29)
    spec = ToFrame((34, 29, polarities), **mode)
    fast = spec(events)
    loop_only(monkeypatch)
    slow = spec(events)
    assert fast.dtype == slow.dtype == np.float32 and fast.flags.c_contiguous
    np.testing.assert_array_equal(fast, slow)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 30), min_size=1, max_size=12),
    st.integers(0, 5),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)
def test_accumulate_of_any_consecutive_ranges(lengths, offset, merge, seed):
    rng = np.random.default_rng(seed)
    bounds = offset + np.concatenate(([0], np.cumsum(lengths)))
    n = int(bounds[-1]) + 3  # events before the first and after the last frame are left out
    x, y, p = rng.integers(0, 5, n), rng.integers(0, 4, n), rng.integers(0, 2, n)
    x, y, p = x.astype(np.int16), y.astype(np.int16), p.astype(np.int8)
    starts, ends = bounds[:-1], bounds[1:]
    polarity = None if merge else p
    frames = accumulate(x, y, polarity, (5, 4), starts, ends)
    expected = np.zeros((len(starts), 1 if merge else 2, 4, 5), np.int64)
    for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
        channel = np.zeros(b - a, np.intp) if merge else p[a:b]
        np.add.at(expected[i], (channel, y[a:b], x[a:b]), 1)
    np.testing.assert_array_equal(frames, expected)


def test_large_streams_count_frame_by_frame_with_the_same_result(monkeypatch):
    n = counting.SINGLE_PASS_EVENTS + 1000
    events = stream(np.random.default_rng(0), n, 240, 180)
    spec = ToFrame((240, 180, 2), n_time_bins=10)
    above = spec(events)
    monkeypatch.setattr(counting, "SINGLE_PASS_EVENTS", n)
    np.testing.assert_array_equal(spec(events), above)
    assert above.sum() == n


def test_chunked_and_extent_framings_agree_with_to_frame(tmp_path):
    events = stream(np.random.default_rng(3), 3000, 40, 30)
    path = tmp_path / "a.bin"
    write_atis(path, events)
    spec = ToFrame((40, 30, 2), n_time_bins=7)
    np.testing.assert_array_equal(frame_file(path, spec, chunk_size=256), spec(events))
    extent = ExtentFrames(7, size=(30, 40))
    plane = (int(events["x"].max()) + 1, int(events["y"].max()) + 1, 2)
    assert extent(events).shape == (7, 2, 30, 40)
    assert ToFrame(plane, n_time_bins=7)(events).sum() == len(events)


def test_check_stream_returns_the_timestamps_contiguous():
    events = stream(np.random.default_rng(1), 100, 10, 10)
    t = check_stream(events, (10, 10, 2), None)
    assert t.flags.c_contiguous and t.dtype == np.int64
    np.testing.assert_array_equal(t, events["t"])
    assert not np.shares_memory(t, events)
    empty = check_stream(events[:0], (10, 10, 2), None)
    assert empty.shape == (0,) and empty.dtype == np.int64
