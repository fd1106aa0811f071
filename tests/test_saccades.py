"""Saccade event emulator: calibration against the real N-MNIST sample, determinism, geometry."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import sample_file

from snn_transfer.errors import ConfigError
from snn_transfer.events.core import EVENT_DTYPE, validate_events
from snn_transfer.events.saccades import (
    SaccadeParams,
    _render,
    emulate_images,
    emulate_saccades,
    saccade_positions,
)
from snn_transfer.events.static import load_digits

QUIET = SaccadeParams(noise_hz=0.0)


@pytest.fixture(scope="module")
def digits():
    return load_digits()


@pytest.fixture(scope="module")
def four(digits) -> np.ndarray:
    return digits.image(int(digits.indices_of(4)[0]))


def real_nmnist() -> np.ndarray:
    import tonic

    dtype = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
    return tonic.io.read_mnist_file(str(sample_file("sample_nmnist.bin")), dtype=dtype)


def test_calibrated_against_the_real_nmnist_sample(digits):
    real = real_nmnist()
    real_count, real_duration, real_on = len(real), int(real["t"].max()), real["p"].mean()
    assert (real_count, real_duration) == (4325, 311175) and 0.49 < real_on < 0.5
    picks = [int(digits.indices_of(label)[0]) for label in range(10)]
    streams = [emulate_saccades(digits.image(i), seed=i) for i in picks]
    counts = np.array([len(e) for e in streams])
    # A 28x28 digit on the 34x34 sensor: within a factor 0.5-2 of the real recording, every
    # class; the "4" itself within 25 %.
    assert (0.5 * real_count < counts).all() and (counts < 2 * real_count).all(), counts
    assert abs(counts[4] / real_count - 1) < 0.25, counts[4]
    for events in streams:
        assert abs(events["t"].max() / real_duration - 1) < 0.05
        assert abs(events["p"].mean() - real_on) < 0.05
    # The per-pixel rhythm too: the shortest same-polarity intervals of a pixel are set by
    # the refractory period and match the real sensor's (1st percentile about 1.7 ms).
    gaps = []
    for events in (real, streams[4]):
        order = np.lexsort((events["t"], events["p"], events["y"], events["x"]))
        e = events[order]
        same = (np.diff(e["x"]) == 0) & (np.diff(e["y"]) == 0) & (np.diff(e["p"]) == 0)
        gaps.append(np.percentile(np.diff(e["t"])[same], 1))
    assert abs(gaps[1] / gaps[0] - 1) < 0.25, gaps


def test_real_sample_edge_polarity_and_invert_option(four):
    """In the real file the leading edge of the moving (bright) digit emits p = 0; physically
    that is an ON edge, so ``invert_polarity=True`` mimics the file convention."""

    def trailing_share(events: np.ndarray) -> float:
        # third saccade: the image moves towards -x, so the trailing edge is at larger x
        third = events[(events["t"] > 225_000) & (events["t"] < 300_000)]
        on, off = third[third["p"] == 1], third[third["p"] == 0]
        return float(on["x"].mean() > off["x"].mean())

    physical = emulate_saccades(four, seed=1)
    assert trailing_share(physical) == 0.0  # ON at the leading edge
    assert (
        trailing_share(emulate_saccades(four, seed=1, params=SaccadeParams(invert_polarity=True)))
        == 1.0
    )
    assert trailing_share(real_nmnist()) == 1.0


def test_three_saccades_visible_in_time(four):
    events = emulate_saccades(four, params=QUIET, seed=3)
    assert events["t"].min() >= 0 and events["t"].max() <= 315_000
    counts, _ = np.histogram(events["t"], bins=np.arange(0, 315_001, 5_000))
    per_saccade = counts.reshape(3, 21).sum(axis=1)
    assert (per_saccade > 0.2 * len(events)).all(), per_saccade
    for s in range(3):
        segment = counts[21 * s : 21 * (s + 1)]
        peak = int(np.argmax(segment))
        assert 6 <= peak <= 14, (s, segment)  # the rate peaks mid-saccade (30-75 ms in)
        assert segment[0] + segment[-1] < 0.2 * segment.max()  # and stops at the ends
    linear = emulate_saccades(four, params=SaccadeParams(noise_hz=0.0, profile="linear"), seed=3)
    flat, _ = np.histogram(linear["t"], bins=np.arange(0, 315_001, 35_000))
    assert flat.min() > 0.5 * flat.max()  # constant speed: an even rate within each saccade


def test_saccade_path():
    params = SaccadeParams()
    points = saccade_positions(params, np.array([0, 52_500, 105_000, 210_000, 315_000, 400_000]))
    assert np.allclose(points, [[0, 0], [1.75, 3.5], [3.5, 7], [7, 0], [0, 0], [0, 0]])
    early = saccade_positions(params, np.array([5_000]))[0]
    assert 0 < early[1] < 0.01 * 7  # minimum jerk: hardly moving 5 ms in
    linear = saccade_positions(SaccadeParams(profile="linear"), np.array([5_000]))[0]
    assert linear[1] == pytest.approx(7 * 5 / 105)


def test_blank_image_gives_only_background_noise():
    blank = np.zeros((28, 28), np.uint8)
    assert len(emulate_saccades(blank, params=QUIET)) == 0
    gray = np.full((28, 28), 128, np.uint8)  # no edge against an equal background either
    assert (
        len(emulate_saccades(gray, params=SaccadeParams(noise_hz=0.0, background=128 / 255))) == 0
    )
    noise = emulate_saccades(blank, seed=5)
    expected = SaccadeParams().noise_hz * 34 * 34 * 0.315
    assert abs(len(noise) - expected) < 5 * np.sqrt(expected)
    assert 0.3 < noise["p"].mean() < 0.7


def test_same_seed_same_stream_and_seed_matters(four):
    first = emulate_saccades(four, seed=11)
    assert np.array_equal(first, emulate_saccades(four, seed=11))
    assert np.array_equal(first, emulate_saccades(four, seed=np.random.default_rng(11)))
    other = emulate_saccades(four, seed=12)
    assert len(other) != len(first) or not np.array_equal(other, first)


def test_output_sorted_inside_sensor_and_typed(four):
    events = emulate_saccades(four, seed=2)
    assert events.dtype == EVENT_DTYPE
    validate_events(events, (34, 34, 2))  # raises if unsorted or outside
    assert set(np.unique(events["p"])) == {0, 1}


@pytest.mark.parametrize("refractory_us", [3_000, 50_000])
def test_refractory_period_is_respected(four, refractory_us):
    # 50 ms: whole sub-frames pass in which every crossing is dropped
    params = SaccadeParams(noise_hz=0.0, refractory_us=refractory_us)
    events = emulate_saccades(four, params=params, seed=4)
    pixel = events["y"].astype(np.int64) * 34 + events["x"]
    order = np.lexsort((events["t"], pixel))
    same_pixel = np.diff(pixel[order]) == 0
    assert np.diff(events["t"][order])[same_pixel].min() >= refractory_us - 1  # rounding


def test_higher_threshold_fewer_events(four):
    fewer = emulate_saccades(four, params=SaccadeParams(noise_hz=0.0, threshold=0.9), seed=4)
    assert len(fewer) < 0.6 * len(emulate_saccades(four, params=QUIET, seed=4))


def test_mnist_digit_box_stays_inside_the_sensor():
    # 28 + 7 > 34: the 28x28 frame cannot stay inside, so the path's box is centred and only
    # the outermost (black) row/column of the frame leaves the sensor; the 20x20 box never does.
    square = np.zeros((28, 28), np.uint8)
    square[4:24, 4:24] = 255
    events = emulate_saccades(square, params=QUIET, seed=0)
    for axis in ("x", "y"):
        # the square covers sensor pixels 3-22 at displacement 0 and 10-29 at 7
        assert events[axis].min() == 3 and events[axis].max() == 29, axis


def test_larger_and_non_square_sensors(rng):
    picture = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    events = emulate_saccades(picture, (48, 40), params=SaccadeParams(fit=True), seed=0)
    validate_events(events, (48, 40, 2))
    assert len(events) > 1000
    # fitted: 80x64 scaled by min(41/80, 33/64) to 41x32, the path's 7 pixels on top
    assert events["x"].min() <= 1 and events["x"].max() >= 46
    assert events["y"].max() >= 37
    small = emulate_saccades(rng.integers(0, 256, (40, 40), dtype=np.uint8), (48, 48, 2), seed=0)
    validate_events(small, (48, 48, 2))


def test_render_places_and_shifts_bilinearly():
    image = np.zeros((3, 3), np.float32)
    image[1, 1] = 1.0
    padded = np.pad(image, 1)
    frames = _render(padded, np.array([[2.0, 1.0], [2.5, 1.0]]), 6, 5)
    assert frames.shape == (2, 5, 6)
    assert frames[0, 2, 3] == 1.0 and frames[0].sum() == 1.0  # pixel (1, 1) lands at x=3, y=2
    assert frames[1, 2, 3] == 0.5 and frames[1, 2, 4] == 0.5  # half a pixel to the right


def test_emulation_speed(four):
    emulate_saccades(four)
    start = time.perf_counter()
    for seed in range(5):
        emulate_saccades(four, seed=seed)
    per_sample = (time.perf_counter() - start) / 5
    print(f"emulate_saccades, 28x28 digit on 34x34: {per_sample * 1e3:.1f} ms per sample")
    assert per_sample < 0.25  # about 20 ms on one core; generous for loaded machines


def test_params_are_validated_hashable_values():
    params = SaccadeParams(waypoints=[[0, 0], [1, 2]])
    assert params.waypoints == ((0.0, 0.0), (1.0, 2.0)) and params.duration_us == 105_000
    assert hash(params) == hash(SaccadeParams(waypoints=((0, 0), (1, 2))))
    assert params.fingerprint() != SaccadeParams().fingerprint()
    assert SaccadeParams(threshold=1).fingerprint() == SaccadeParams(threshold=1.0).fingerprint()
    assert SaccadeParams(step_us=500.0).step_us == 500 and params.fields()["saccade_us"] == 105_000
    for bad in (
        {"threshold": 0},
        {"profile": "jerky"},
        {"black_level": 0},
        {"waypoints": [(0, 0)]},
    ):
        with pytest.raises(ConfigError):
            SaccadeParams(**bad)
    with pytest.raises(ConfigError, match="smaller than the saccade path"):
        emulate_saccades(np.ones((4, 4)), (6, 6), params=SaccadeParams(fit=True))


def test_emulate_images_seeds_each_sample_by_its_index(digits):
    part = digits.subset(range(4))
    streams = list(emulate_images(part, seed=7))
    assert [label for _, label, _ in streams] == part.labels.tolist()
    assert [name for _, _, name in streams] == part.names
    ((alone, label, name),) = emulate_images(part, seed=7, indices=[2])
    assert np.array_equal(alone, streams[2][0]) and name == part.names[2]
    assert not np.array_equal(streams[0][0][:50], next(emulate_images(part, seed=8))[0][:50])
