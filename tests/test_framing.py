"""ToFrame: equal to Tonic's ToFrame where Tonic is right, and each Tonic defect pinned."""

from __future__ import annotations

import numpy as np
import pytest
import tonic
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from tonic.functional import to_frame_numpy
from tonic.slicers import SliceByEventBins, SliceByTimeBins

from snn_transfer.errors import ConfigError, EventFormatError
from snn_transfer.events.core import make_events
from snn_transfer.events.framing import ToFrame

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def streams(draw, max_events: int = 80, min_events: int = 0):
    """(events, (W, H, 2)): sorted timestamps with frequent ties, random pixels."""
    n = draw(st.integers(min_events, max_events))
    width, height = draw(st.integers(1, 7)), draw(st.integers(1, 6))
    max_gap = draw(st.sampled_from([1, 3, 50, 1000]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    t = draw(st.integers(0, 10**6)) + np.cumsum(rng.integers(0, max_gap + 1, n))
    events = make_events(
        rng.integers(0, width, n), rng.integers(0, height, n), t, rng.integers(0, 2, n)
    )
    return events, (width, height, 2)


def count_frame(events: np.ndarray, sensor_size, merge: bool = False) -> np.ndarray:
    """Independent count of events per (p, y, x), int64 [P, H, W]."""
    width, height, n_pol = sensor_size
    frame = np.zeros((n_pol, height, width), np.int64)
    p = np.zeros(len(events), np.intp) if merge else events["p"].astype(np.intp)
    np.add.at(frame, (p, events["y"], events["x"]), 1)
    return frame


def tonic_frames(events: np.ndarray, sensor_size, **mode) -> np.ndarray:
    return to_frame_numpy(events.copy(), sensor_size, **mode).astype(np.int64)


def equal_up_to_last(ours, theirs, extra_last) -> None:
    """Ours = Tonic's frames with ``extra_last`` added to the last one."""
    expected = theirs.copy()
    expected[-1] += extra_last
    assert ours.dtype == np.float32
    np.testing.assert_array_equal(ours, expected)


bin_overlaps = st.sampled_from([0, 0.1, 0.25, 0.5, 0.9])


@SETTINGS
@given(streams(min_events=1), st.integers(1, 12), bin_overlaps)
def test_time_bins_equal_tonic_plus_dropped_events(stream, n_bins, overlap):
    events, size = stream
    ours = ToFrame(size, n_time_bins=n_bins, overlap=overlap)(events)
    theirs = tonic_frames(events, size, n_time_bins=n_bins, overlap=overlap)
    last_end = max(end for _, end in SliceByTimeBins(n_bins, overlap).get_slice_metadata(events, 0))
    equal_up_to_last(ours, theirs, count_frame(events[last_end:], size))


@SETTINGS
@given(streams(min_events=1), st.integers(1, 12), bin_overlaps)
def test_event_bins_equal_tonic_plus_remainder(stream, n_bins, overlap):
    events, size = stream
    ours = ToFrame(size, n_event_bins=n_bins, overlap=overlap)(events)
    theirs = tonic_frames(events, size, n_event_bins=n_bins, overlap=overlap)
    meta = SliceByEventBins(n_bins, overlap).get_slice_metadata(events, 0)
    last_end = min(max(end for _, end in meta), len(events))
    equal_up_to_last(ours, theirs, count_frame(events[last_end:], size))


@SETTINGS
@given(
    streams(min_events=1),
    st.sampled_from([0.05, 0.1, 0.3, 1.5, 7]),
    st.floats(0, 0.75),
    st.booleans(),
    st.sampled_from([None, -100, 50]),
    st.sampled_from([None, 0, 900, 10**5]),
)
def test_time_window_equals_tonic(stream, share, overlap_share, incomplete, start, end):
    events, size = stream
    t0, t1 = int(events["t"][0]), int(events["t"][-1])
    # integer and fractional windows, a few to a few dozen per stream
    window = share * (t1 - t0 + 1) if share < 1 else int(share * (t1 - t0 + 1))
    # sub-microsecond windows over integer timestamps: with hundreds of thousands of edges,
    # Tonic's float edges and ours can fall on either side of a timestamp by one ulp
    assume(window >= 1)
    overlap = window * overlap_share
    start = None if start is None else t0 + start
    end = None if end is None else t1 + end
    if start is not None and end is not None and end < start:
        return
    mode = dict(time_window=window, overlap=overlap, include_incomplete=incomplete)
    mode.update(start_time=start, end_time=end)
    ours = ToFrame(size, **mode)(events)
    theirs = tonic_frames(events, size, **mode)
    assert ours.shape == theirs.shape
    # the only difference: with include_incomplete, events at t == end when Tonic's last
    # window ends exactly there
    stop = t1 if end is None else end
    extra = count_frame(events[events["t"] == stop], size)
    diff = ours[-1] - theirs[-1]
    np.testing.assert_array_equal(ours[:-1], theirs[:-1])
    assert np.all(diff == 0) or (incomplete and np.array_equal(diff, extra))


@SETTINGS
@given(streams(), st.sampled_from([1, 5, 30]), st.booleans(), st.data())
def test_event_count_equals_tonic(stream, count, incomplete, data):
    events, size = stream
    overlap = data.draw(st.integers(0, count - 1))
    mode = dict(event_count=count, overlap=overlap, include_incomplete=incomplete)
    ours = ToFrame(size, **mode)(events)
    if len(events) == 0:
        assert ours.shape == (1, 2, size[1], size[0]) and not ours.any()
        return
    np.testing.assert_array_equal(ours, tonic_frames(events, size, **mode))


@SETTINGS
@given(streams(), st.integers(1, 12), st.sampled_from(["n_time_bins", "n_event_bins"]))
def test_bin_modes_count_every_event_once(stream, n_bins, mode):
    events, size = stream
    frames = ToFrame(size, **{mode: n_bins})(events)
    assert frames.shape == (n_bins, 2, size[1], size[0]) and frames.dtype == np.float32
    assert frames.sum() == len(events)
    np.testing.assert_array_equal(frames.sum(axis=0), count_frame(events, size))


@SETTINGS
@given(streams(min_events=1), st.sampled_from([3, 40, 700]), st.booleans())
def test_time_window_frames_hold_their_windows(stream, window, incomplete):
    events, size = stream
    t = events["t"]
    frames = ToFrame(size, time_window=window, include_incomplete=incomplete)(events)
    for i, frame in enumerate(frames):
        begin = t[0] + i * window
        inside = (t >= begin) & (t < begin + window)
        if incomplete and i == len(frames) - 1:
            inside |= t == t[-1]
        np.testing.assert_array_equal(frame, count_frame(events[inside], size))


@SETTINGS
@given(
    streams(),
    st.sampled_from([dict(n_time_bins=5), dict(n_time_bins=3, overlap=0.5), dict(time_window=20)]),
    st.integers(0, 2**32 - 1),
)
def test_order_of_equal_timestamps_does_not_matter(stream, mode, seed):
    events, size = stream
    shuffled = events[np.lexsort((np.random.default_rng(seed).random(len(events)), events["t"]))]
    spec = ToFrame(size, **mode)
    np.testing.assert_array_equal(spec(events), spec(shuffled))


@SETTINGS
@given(streams(), st.sampled_from([dict(n_time_bins=4), dict(event_count=9)]))
def test_one_polarity_merges_and_input_untouched(stream, mode):
    events, (width, height, _) = stream
    before = events.copy()
    merged = ToFrame((width, height, 1), **mode)(events)
    split = ToFrame((width, height, 2), **mode)(events)
    np.testing.assert_array_equal(merged, split.sum(axis=1, keepdims=True))
    np.testing.assert_array_equal(events, before)


# --- each Tonic defect, pinned ---------------------------------------------------------------


def uniform_events(n: int = 1000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 300_000, n))
    return make_events(rng.integers(0, 34, n), rng.integers(0, 34, n), t, rng.integers(0, 2, n))


def test_defect_a_tonic_drops_the_last_event():
    events, size = uniform_events(), (34, 34, 2)
    theirs = tonic.transforms.ToFrame(size, n_time_bins=10)(events.copy())
    ours = ToFrame(size, n_time_bins=10)(events)
    assert theirs.sum() == 999 and ours.sum() == 1000
    last = events[-1:]
    equal_up_to_last(ours, theirs.astype(np.int64), count_frame(last, size))


@pytest.mark.parametrize("n", [1, 5])
def test_defect_b_single_event_or_equal_timestamps_counted(n):
    events = make_events([3] * n, [2] * n, [777] * n, [1] * n)
    theirs = tonic.transforms.ToFrame((8, 4, 2), n_time_bins=4)(events.copy())
    ours = ToFrame((8, 4, 2), n_time_bins=4)(events)
    assert not theirs.any()
    assert ours.sum() == n and ours[3, 1, 2, 3] == n  # all in the last bin


def test_defect_c_no_int16_wrap():
    n = 40_000
    events = make_events(np.zeros(n), np.zeros(n), np.arange(n), np.ones(n))
    theirs = tonic.transforms.ToFrame((2, 2, 2), n_time_bins=1)(events.copy())
    ours = ToFrame((2, 2, 2), n_time_bins=1)(events)
    assert theirs[0, 1, 0, 0] < 0  # wrapped
    assert ours[0, 1, 0, 0] == n and ours.dtype == np.float32


def test_defect_d_empty_stream_shapes():
    empty = make_events([], [], [], [])
    theirs = tonic.transforms.ToFrame((5, 3, 2), n_time_bins=4)(empty)
    assert theirs.shape == (4, 2, 5, 3) and theirs.dtype == np.float64  # W and H swapped
    for mode, count in [
        (dict(n_time_bins=4), 4),
        (dict(n_event_bins=6), 6),
        (dict(time_window=100), 1),
        (dict(event_count=10), 1),
        (dict(time_window=100, start_time=0, end_time=450), 4),
        (dict(time_window=100, start_time=0, end_time=450, include_incomplete=True), 5),
    ]:
        frames = ToFrame((5, 3, 2), **mode)(empty)
        assert frames.shape == (count, 2, 3, 5) and frames.dtype == np.float32, mode
        assert not frames.any()


def test_defect_e_one_polarity_never_modifies_input():
    events = make_events([0, 1, 2], [0, 0, 1], [0, 10, 20], [1, 1, 1])
    theirs_input = events.copy()
    tonic.transforms.ToFrame((3, 2, 1), n_time_bins=2)(theirs_input)
    assert (theirs_input["p"] == 0).all()  # Tonic wrote into the caller's array
    before = events.copy()
    ours = ToFrame((3, 2, 1), n_time_bins=2)(events)
    np.testing.assert_array_equal(events, before)
    assert ours.shape == (2, 1, 2, 3) and ours.sum() == 3
    mixed = make_events([0, 1], [0, 0], [0, 10], [0, 1])
    with pytest.raises(ValueError):
        tonic.transforms.ToFrame((3, 2, 1), n_time_bins=1)(mixed.copy())
    assert ToFrame((3, 2, 1), n_time_bins=1)(mixed)[0, 0, 0].tolist() == [1, 1, 0]


def test_defect_f_incomplete_window_keeps_events_at_the_end():
    events = make_events([0, 1, 2], [0, 0, 0], [0, 50, 100], [0, 0, 0])
    mode = dict(time_window=50, include_incomplete=True)
    theirs = tonic.transforms.ToFrame((3, 1, 2), **mode)(events.copy())
    ours = ToFrame((3, 1, 2), **mode)(events)
    assert theirs.shape == ours.shape == (2, 2, 1, 3)
    assert theirs.sum() == 2 and ours.sum() == 3 and ours[1, 0, 0, 2] == 1


# --- validation and specs --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        (dict(), "exactly one"),
        (dict(n_time_bins=3, time_window=10), "exactly one"),
        (dict(n_time_bins=0), "n_time_bins"),
        (dict(n_time_bins=2.5), "n_time_bins"),
        (dict(n_time_bins=3, overlap=1), "overlap"),
        (dict(time_window=-5), "time_window"),
        (dict(time_window=10, overlap=10), "overlap"),
        (dict(event_count=10, overlap=0.5), "overlap"),
        (dict(n_time_bins=3, include_incomplete=True), "include_incomplete"),
        (dict(n_event_bins=3, start_time=0), "start_time"),
        (dict(time_window=10, start_time=5, end_time=1), "end_time"),
    ],
)
def test_bad_parameters_name_the_parameter(kwargs, word):
    with pytest.raises(ConfigError, match=word):
        ToFrame((4, 4, 2), **kwargs)


@pytest.mark.parametrize("size", [(4, 4), (4, 0, 2), (4, 4, 3), None])
def test_bad_sensor_size(size):
    with pytest.raises(ConfigError, match="sensor_size"):
        ToFrame(size, n_time_bins=2)


@pytest.mark.parametrize(
    ("events", "word"),
    [
        (make_events([4], [0], [0], [0]), "x = 4"),
        (make_events([0], [3], [0], [0]), "y = 3"),
        (make_events([-1], [0], [0], [0]), "negative x"),
        (make_events([0, 0], [0, 0], [5, 4], [0, 0]), "back in time"),
        (make_events([0], [0], [0], [2]), "p = 2"),
    ],
)
def test_bad_events_raise_event_format_error(events, word):
    with pytest.raises(EventFormatError, match=word):
        ToFrame((4, 3, 2), n_time_bins=2)(events, path="rec.bin")
    with pytest.raises(EventFormatError, match="rec.bin"):
        ToFrame((4, 3, 2), n_time_bins=2)(events, path="rec.bin")


def test_accepts_tonic_dtypes():
    dtype = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
    events = np.array([(1, 2, 10, 1), (0, 0, 20, 0)], dtype=dtype)
    frames = ToFrame((3, 3, 2), n_time_bins=1)(events)
    assert frames[0, 1, 2, 1] == 1 and frames[0, 0, 0, 0] == 1
