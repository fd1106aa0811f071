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


def edge_streams() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    n = 4325
    nmnist = make_events(
        rng.integers(0, 34, n), rng.integers(0, 34, n), np.sort(rng.integers(0, 310_000, n)),
        rng.integers(0, 2, n),
    )  # fmt: skip
    corners = [(0, 0), (33, 0), (0, 33), (33, 33)]
    return {
        "n-mnist-size": nmnist,
        "one-event": make_events([3], [4], [100], [1]),
        "equal-timestamps": make_events([1, 2, 3], [1, 1, 1], [50, 50, 50], [0, 1, 0]),
        "shorter-than-the-bins": make_events([0, 1, 2, 3], [0, 0, 0, 0], [0, 2, 3, 5], [1] * 4),
        "one-hot-pixel": make_events([5] * 3000, [6] * 3000, np.arange(3000) // 7, [1] * 3000),
        "corners": make_events(
            *zip(*[(x, y, 10 * i, i % 2) for i, (x, y) in enumerate(corners * 5)], strict=True)
        ),  # fmt: skip
    }


@pytest.mark.parametrize("name", list(edge_streams()))
@pytest.mark.parametrize("path", ["one-pass", "frame-loop"])
def test_both_paths_equal_tonic_plus_the_dropped_events(monkeypatch, name, path):
    tonic = pytest.importorskip("tonic")
    events = edge_streams()[name]
    if path == "frame-loop":
        loop_only(monkeypatch)
    ours = ToFrame((34, 34, 2), n_time_bins=10)(events)
    theirs = tonic.transforms.ToFrame((34, 34, 2), n_time_bins=10)(events.copy())
    # Tonic's bins end at t0 + 10 * ((t_last - t0) // 10): the events from there are dropped
    t0, t_last = int(events["t"][0]), int(events["t"][-1])
    dropped = events[events["t"] >= t0 + 10 * ((t_last - t0) // 10)]
    expected = theirs.astype(np.float32)
    np.add.at(expected[-1], (dropped["p"], dropped["y"], dropped["x"]), 1)
    np.testing.assert_array_equal(ours, expected)
    assert ours.sum() == len(events)
