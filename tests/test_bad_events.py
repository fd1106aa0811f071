"""Framing and event transforms on bad streams, case by case: each frames as the framing
module documents or raises ``EventFormatError`` naming the first bad event.

Cases: coordinates outside the sensor, negative coordinates and timestamps, timestamps
that go back, timestamps at 2**62 and near 2**63, duplicates, an empty stream, one
polarity, giant but close timestamps; through ``ToFrame`` (every mode, in memory and from a
file in chunks), ``PaperFrames``, ``denoise`` and the frame transforms."""

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


def test_out_of_sensor_errors_name_the_coordinate_and_the_sensor_size():
    for case, name, value in (("x outside the sensor", "x", 8), ("y outside the sensor", "y", 6)):
        stream, _ = BAD[case]
        with pytest.raises(EventFormatError) as caught:
            ToFrame(SENSOR, n_time_bins=2)(stream, path="rec.bin")
        message = str(caught.value)
        assert message.startswith(f"rec.bin, event {caught.value.index}: coordinate {name} = ")
        assert f"{name} = {value} outside the sensor ({name} < {value}" in message
        assert "sensor size (8, 6, 2) as (W, H, P)" in message
    # several bad events: the message shows the first one, the event its index names
    stream = events([1, 9, 3, 12], [1, 1, 1, 1], [0, 1, 2, 3], [0, 1, 0, 1])
    with pytest.raises(EventFormatError, match=r"event 1: coordinate x = 9 outside") as caught:
        ToFrame(SENSOR, n_time_bins=2)(stream, path="rec.bin")
    assert caught.value.index == 1
    with pytest.raises(EventFormatError, match=r"event 2: negative y = -3"):
        ToFrame(SENSOR, n_time_bins=2)(events([1, 1, 1], [1, 2, -3], [0, 1, 2], [0, 0, 0]))


# --- the same streams through the chunked file framing ---------------------------------------


def write_unchecked(path, stream) -> None:
    """An HDF5 ``events`` file (our format) without a sensor size, written without the
    writer's checks, so that bad streams reach the reader and the framing."""
    import h5py

    with h5py.File(path, "w", libver=("v108", "latest")) as file:
        file.attrs["kind"] = np.bytes_(b"events")
        for name in "xytp":
            file.create_dataset(name, data=np.ascontiguousarray(stream[name]))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", BAD)
def test_bad_streams_in_files_raise_with_the_index_in_the_whole_file(tmp_path, case, mode):
    from snn_transfer.events.framing import frame_file

    stream, (word, index) = BAD[case]
    path = tmp_path / "bad.h5"
    write_unchecked(path, stream)
    # chunks of 2 events: the index must count from the start of the file, not the chunk
    with pytest.raises(EventFormatError, match=word) as caught:
        frame_file(path, ToFrame(SENSOR, **MODES[mode]), chunk_size=2)
    assert caught.value.index == index and caught.value.path == str(path)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", GOOD)
def test_odd_streams_in_files_frame_as_in_memory(tmp_path, case, mode):
    from snn_transfer.events.framing import frame_file

    stream, totals = GOOD[case]
    path = tmp_path / "odd.h5"
    write_unchecked(path, stream)
    spec = ToFrame(SENSOR, **MODES[mode])
    frames = frame_file(path, spec, chunk_size=2)
    np.testing.assert_array_equal(frames, spec(stream))
    assert frames.sum() == totals[mode]


# --- the reference's framing (PaperFrames): the sensor is inferred per sample -------------


@pytest.mark.parametrize("case", [c for c in BAD if "outside the sensor" not in c])
def test_paper_frames_refuse_bad_streams_with_the_index(case):
    from snn_transfer.events.framing import PaperFrames

    stream, (word, index) = BAD[case]
    with pytest.raises(EventFormatError, match=word) as caught:
        PaperFrames(3, size=(4, 4))(stream, path="rec.bin")
    assert caught.value.index == index and caught.value.path == "rec.bin"


def test_paper_frames_infer_the_sensor_so_no_coordinate_is_outside():
    from snn_transfer.events.framing import PaperFrames

    stream, _ = BAD["x outside the sensor"]  # x = [1, 8, 2], t = [0, 1, 2]
    # one bin of (2 - 0) // 1 = 2 us: [0, 2) keeps t = 0 and 1 and drops t = 2, as the
    # reference does; at the inferred plane's own size the resize changes nothing
    frames = PaperFrames(1, size=(2, 9), shift_xy=False)(stream)
    assert frames.shape == (1, 2, 2, 9)
    assert frames[0, 0, 1, 1] == 1 and frames[0, 1, 1, 8] == 1 and frames.sum() == 2


@pytest.mark.parametrize(
    ("case", "total"),
    [("duplicates", 0), ("empty", 0), ("one polarity", 2), ("giant timestamps close together", 2)],
)
def test_paper_frames_on_odd_streams(case, total):
    # duplicates span 0 us: bins of 0 us hold nothing; otherwise the last event, at
    # t_first + T * window or later, is dropped (the reference's half-open bins)
    from snn_transfer.events.framing import PaperFrames

    stream, _ = GOOD[case]
    size = (int(stream["y"].max()) + 1, int(stream["x"].max()) + 1) if len(stream) else (3, 3)
    frames = PaperFrames(3, size=size, shift_xy=False)(stream)
    assert frames.shape == (3, 2, *size) and frames.dtype == np.float32
    assert frames.sum() == pytest.approx(total)
    if case == "one polarity":
        assert frames[:, 0].sum() == 0


# --- denoise on the bad streams: it needs no sensor size and accepts any order ------------


@pytest.mark.parametrize(
    ("case", "kept"),
    [
        # x = 8 has no neighbour that fired; x = 2 at 2 us has x = 1 from 0 us
        ("x outside the sensor", [2]),
        # (1, 1) twice: a pixel's own earlier event is no support; y = 6 has no neighbour
        ("y outside the sensor", []),
        # only relative times matter: -5 us supports the event at 1 us, which supports 2 us
        ("negative timestamp", [1, 2]),
        # any order: x = 2 at 9 us is supported by x = 1 at 0 us; x = 3 at 4 us is not by the
        # later x = 2
        ("time goes back", [1]),
        # 2**62 us apart: no support, and no overflow in the int64 keys
        ("timestamp 2**62", []),
        ("timestamp near 2**63", []),
    ],
)
def test_denoise_on_bad_streams_keeps_the_supported_events(case, kept):
    stream, _ = BAD[case]
    out = denoise(stream, 100)
    np.testing.assert_array_equal(out, stream[kept])


def test_denoise_is_independent_of_the_order_of_the_events(rng):
    stream = events(
        rng.integers(0, 8, 200), rng.integers(0, 6, 200), np.sort(rng.integers(0, 2000, 200)),
        rng.integers(0, 2, 200),
    )  # fmt: skip
    order = rng.permutation(len(stream))
    kept = denoise(stream, 150)
    shuffled = denoise(stream[order], 150)
    assert 0 < len(kept) < len(stream)
    np.testing.assert_array_equal(
        np.sort(shuffled, order=["t", "x", "y"]), np.sort(kept, order=["t", "x", "y"])
    )


def test_denoise_refuses_negative_y_with_the_index():
    with pytest.raises(EventFormatError, match="negative y") as caught:
        denoise(events([1, 1, 2], [1, 1, -3], [0, 1, 2], [0, 0, 0]), 100)
    assert caught.value.index == 2


# --- frame transforms on frames of the odd streams ----------------------------------------


@pytest.mark.parametrize("case", GOOD)
def test_frame_transforms_keep_the_counts_of_odd_streams(case, rng):
    from snn_transfer.events.transforms import Downsample, RandomFlip, RandomRotation, Resize

    stream, totals = GOOD[case]
    frames = ToFrame(SENSOR, n_time_bins=3)(stream)
    for transform in (Downsample(2), Downsample(5), RandomFlip(1.0)):
        out = transform(frames, rng)
        assert out.dtype == np.float32 and out.sum() == totals["time_bins"]
        np.testing.assert_array_equal(out.sum(axis=(-2, -1)), frames.sum(axis=(-2, -1)))
    for transform in (Resize((12, 16)), RandomRotation(30)):
        out = transform(frames, rng)
        assert out.shape[:2] == frames.shape[:2] and np.isfinite(out).all()
        assert (out.sum() == 0) == (frames.sum() == 0)  # empty stays empty, nothing appears
