"""Framing and event transforms on bad streams, case by case: each frames as the framing
module documents or raises ``EventFormatError`` naming the first bad event."""

from __future__ import annotations

import numpy as np
import pytest

from snn_transfer.errors import EventFormatError
from snn_transfer.events.core import make_events
from snn_transfer.events.framing import MAX_TIMESTAMP, ToFrame
from snn_transfer.events.transforms import denoise

SENSOR = (8, 6, 2)
G = MAX_TIMESTAMP - 1  # the largest timestamp a stream may hold
MODES = {
    "time_bins": {"n_time_bins": 3},
    "time_bins_overlap": {"n_time_bins": 3, "overlap": 0.5},
    "event_bins": {"n_event_bins": 3},
    "time_window": {"time_window": 1000},
    "time_window_incomplete": {"time_window": 1000, "include_incomplete": True},
    "event_count": {"event_count": 2},
}


def events(x, y, t, p):
    return make_events(x, y, np.asarray(t, np.int64), p)


# (stream, expected): expected is the frame total per mode or (word in the error, event index)
BAD = {
    "x outside the sensor": (events([1, 8, 2], [1, 1, 1], [0, 1, 2], [0, 1, 0]), ("x = 8", 1)),
    "y outside the sensor": (events([1, 1, 2], [1, 1, 6], [0, 1, 2], [0, 1, 0]), ("y = 6", 2)),
    "negative x": (events([1, -1, 2], [1, 1, 1], [0, 1, 2], [0, 1, 0]), ("negative x", 1)),
    "negative timestamp": (events([1, 2, 3], [1, 1, 1], [-5, 1, 2], [0, 1, 0]), ("negative", 0)),
    "time goes back": (events([1, 2, 3], [1, 1, 1], [0, 9, 4], [0, 1, 0]), ("back in time", 2)),
    "timestamp 2**62": (
        events([1, 2], [1, 1], [0, MAX_TIMESTAMP], [0, 1]),
        (r"not below 2\*\*62", 1),
    ),
    "timestamp near 2**63": (
        events([1, 2], [1, 1], [0, 2**63 - 1], [0, 1]),
        (r"not below 2\*\*62", 1),
    ),
}
GOOD = {
    # every event counts once; the totals per mode follow the module docstring
    "duplicates": (
        events([1, 1, 1, 1], [1, 1, 1, 1], [5, 5, 5, 5], [1, 1, 1, 1]),
        {
            "time_bins": 4,
            "time_bins_overlap": 4,
            "event_bins": 4,
            "time_window": 4,
            "time_window_incomplete": 4,
            "event_count": 4,
        },
    ),
    "empty": (
        events([], [], [], []),
        {
            "time_bins": 0,
            "time_bins_overlap": 0,
            "event_bins": 0,
            "time_window": 0,
            "time_window_incomplete": 0,
            "event_count": 0,
        },
    ),
    "one polarity": (
        events([0, 7, 3], [0, 5, 2], [0, 500, 999], [1, 1, 1]),
        {
            "time_bins": 3,
            "time_bins_overlap": 4,
            "event_bins": 3,
            "time_window": 3,
            "time_window_incomplete": 3,
            "event_count": 2,
        },
    ),
    "giant timestamps close together": (
        events([1, 2, 3], [1, 1, 1], [G - 10, G - 5, G], [0, 1, 0]),
        {
            "time_bins": 3,
            "time_bins_overlap": 4,
            "event_bins": 3,
            "time_window": 3,
            "time_window_incomplete": 3,
            "event_count": 2,
        },
    ),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", BAD)
def test_bad_streams_raise_with_the_event_index(case, mode):
    stream, (word, index) = BAD[case]
    with pytest.raises(EventFormatError, match=word) as caught:
        ToFrame(SENSOR, **MODES[mode])(stream, path="rec.bin")
    assert caught.value.index == index and caught.value.path == "rec.bin"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", GOOD)
def test_odd_but_valid_streams_frame_as_documented(case, mode):
    stream, totals = GOOD[case]
    frames = ToFrame(SENSOR, **MODES[mode])(stream)
    assert frames.dtype == np.float32 and frames.shape[1:] == (2, 6, 8)
    assert frames.sum() == totals[mode]
    if case == "one polarity" and len(frames):
        assert frames[:, 0].sum() == 0  # nothing lands in the other channel
    merged = ToFrame((8, 6, 1), **MODES[mode])(stream)
    assert merged.sum() == totals[mode]


def test_giant_timestamps_keep_exact_bin_edges():
    # at 2**62 a float64 is 1024 us coarse; the edges must still split 10 us into 3 bins
    frames = ToFrame(SENSOR, n_time_bins=3, overlap=0.5)(
        events([1, 2, 3], [1, 1, 1], [G - 10, G - 5, G], [0, 0, 0])
    )
    np.testing.assert_array_equal(frames.sum(axis=(1, 2, 3)), [1, 1, 2])


def test_a_corrupt_timestamp_does_not_allocate_without_bound():
    stream = events([1, 2, 3], [1, 1, 1], [0, 10, G], [0, 1, 0])
    with pytest.raises(EventFormatError, match=r"windows of time_window.*larger time_window") as e:
        ToFrame(SENSOR, time_window=1000)(stream)
    assert e.value.index == 2  # the event after the largest gap
    assert ToFrame(SENSOR, n_time_bins=4)(stream).sum() == 3  # the bin modes are unaffected


@pytest.mark.parametrize(
    ("case", "kept"),
    [("duplicates", 0), ("empty", 0), ("one polarity", 0), ("giant timestamps close together", 2)],
)
def test_denoise_on_odd_streams(case, kept):
    # an event is kept only when a neighbouring pixel fired in the last 100 us: a pixel's own
    # duplicates never support it; at 2**62 the second and third events have that support
    stream, _ = GOOD[case]
    out = denoise(stream, 100)
    assert out.dtype == stream.dtype and len(out) == kept
    if kept:
        np.testing.assert_array_equal(out, stream[1:])


def test_denoise_refuses_negative_coordinates_with_the_index():
    with pytest.raises(EventFormatError, match="negative x") as caught:
        denoise(events([1, -1], [1, 1], [0, 1], [0, 0]), 100)
    assert caught.value.index == 1
