"""Frame transforms (same draw for all T frames, known geometry) and the vectorised Denoise."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TVF
from hypothesis import given, settings
from hypothesis import strategies as st
from tonic.functional import denoise_numpy
from torchvision.transforms import InterpolationMode

from snn_transfer.errors import ConfigError, EventFormatError
from snn_transfer.events.core import make_events
from snn_transfer.events.transforms import (
    Compose,
    Denoise,
    Downsample,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    Resize,
    crop,
    denoise,
    hflip,
    rotate,
)

RANDOM = [RandomCrop(12, padding=3), RandomFlip(0.5), RandomRotation(15)]
PIPELINE = Compose((Resize((12, 14)), RandomCrop(12, padding=2), RandomFlip(), RandomRotation(15)))


def single_pixel(t=3, p=2, h=6, w=8, y=2, x=1) -> np.ndarray:
    frames = np.zeros((t, p, h, w), np.float32)
    frames[..., y, x] = 1.0
    return frames


def test_flip_moves_pixel_to_mirror_column():
    out = hflip(single_pixel())
    assert out.shape == (3, 2, 6, 8)
    assert (out[..., 2, 8 - 1 - 1] == 1).all() and out.sum() == 3 * 2


@pytest.mark.parametrize(("top", "left"), [(0, 0), (3, 5), (4, 4), (1, 7)])
def test_crop_with_padding_shifts_and_matches_torchvision(top, left):
    frames = np.random.default_rng(0).random((2, 2, 10, 9)).astype(np.float32)
    out = crop(frames, top, left, (8, 6), padding=2)
    padded = TVF.pad(torch.from_numpy(frames), [2])
    expected = TVF.crop(padded, top, left, 8, 6).numpy()
    np.testing.assert_array_equal(out, expected)
    moved = crop(single_pixel(y=2, x=1), top, left, (8, 6), padding=2)
    y, x = 2 + 2 - top, 1 + 2 - left
    if 0 <= y < 8 and 0 <= x < 6:
        assert (moved[..., y, x] == 1).all() and moved.sum() == 6
    else:
        assert moved.sum() == 0


def test_rotation_geometry():
    frames = np.random.default_rng(1).random((2, 2, 9, 13)).astype(np.float32)
    np.testing.assert_allclose(rotate(frames, 0.0), frames, atol=1e-6)
    square = frames[..., :9, :9].copy()
    np.testing.assert_allclose(rotate(square, 90.0), np.rot90(square, 1, (-2, -1)), atol=1e-5)
    for angle in (-15.0, 3.3, 11.0):
        expected = TVF.rotate(
            torch.from_numpy(frames), angle, interpolation=InterpolationMode.BILINEAR
        ).numpy()
        np.testing.assert_allclose(rotate(frames, angle), expected, atol=1e-5)


def test_downsample_preserves_counts():
    frames = np.random.default_rng(2).integers(0, 5, (3, 2, 7, 10)).astype(np.float32)
    out = Downsample(3)(frames)
    assert out.shape == (3, 2, 3, 4)
    np.testing.assert_array_equal(out.sum(axis=(-2, -1)), frames.sum(axis=(-2, -1)))
    assert out[1, 0, 0, 0] == frames[1, 0, :3, :3].sum()
    assert out[1, 0, 2, 3] == frames[1, 0, 6:, 9:].sum()  # partial block, zero padded


def test_resize_is_bilinear_interpolate():
    frames = np.random.default_rng(3).random((4, 2, 18, 24)).astype(np.float32)
    expected = F.interpolate(torch.from_numpy(frames), size=(12, 12), mode="bilinear")
    np.testing.assert_allclose(Resize(12)(frames), expected.numpy(), atol=1e-6)
    corners = Resize((12, 12), align_corners=True)(frames)
    assert (
        corners[0, 0, 0, 0] == frames[0, 0, 0, 0] and corners[0, 0, -1, -1] == frames[0, 0, -1, -1]
    )


@pytest.mark.parametrize("transform", [*RANDOM, PIPELINE], ids=lambda t: type(t).__name__)
def test_one_draw_for_all_frames_and_reproducible(transform):
    rng = np.random.default_rng(4)
    frames = rng.random((5, 2, 14, 16)).astype(np.float32)
    frames[3] = frames[0]
    before = frames.copy()
    for seed in range(8):
        out = transform(frames, np.random.default_rng(seed))
        np.testing.assert_array_equal(out[3], out[0])
        np.testing.assert_array_equal(out, transform(frames, np.random.default_rng(seed)))
    np.testing.assert_array_equal(frames, before)  # input untouched
    outs = [transform(frames, np.random.default_rng(s)) for s in range(8)]
    assert any(not np.array_equal(outs[0], o) for o in outs[1:])  # the draw matters


def test_torch_in_torch_out():
    frames = torch.rand(2, 2, 14, 16)
    out = PIPELINE(frames, np.random.default_rng(0))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 2, 12, 12)
    numpy_out = PIPELINE(frames.numpy(), np.random.default_rng(0))
    assert isinstance(numpy_out, np.ndarray) and numpy_out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), numpy_out)


def test_flip_probability_extremes_and_missing_rng():
    frames = single_pixel()
    for seed in range(5):
        rng = np.random.default_rng(seed)
        assert RandomFlip(0.0)(frames, rng) is frames
        np.testing.assert_array_equal(RandomFlip(1.0)(frames, rng), hflip(frames))
    for transform in RANDOM:
        # without an rng (as tonic.transforms.Compose calls them) they draw a seed from
        # np.random: reproducible with np.random.seed, different from call to call
        np.random.seed(11)
        first = [transform(frames) for _ in range(8)]
        np.random.seed(11)
        again = [transform(frames) for _ in range(8)]
        assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
        assert any(not np.array_equal(first[0], f) for f in first[1:])
        with pytest.raises(ConfigError, match="rng must be a np.random.Generator"):
            transform(frames, 7)


def test_bad_parameters():
    for make in (
        lambda: RandomCrop(0),
        lambda: RandomCrop(4, padding=-1),
        lambda: RandomFlip(1.5),
        lambda: RandomRotation(-1),
        lambda: RandomRotation(10, interpolation="cubic"),
        lambda: Resize((4, 0)),
        lambda: Downsample(0),
        lambda: Denoise(0),
        lambda: Compose((1,)),
    ):
        with pytest.raises(ConfigError):
            make()
    with pytest.raises(ConfigError, match="larger"):
        RandomCrop(20)(single_pixel(), np.random.default_rng(0))


# --- Denoise --------------------------------------------------------------------------------


def naive_denoise(events: np.ndarray, filter_time: float) -> np.ndarray:
    """Our definition spelled out: a 4-neighbour event with t - filter_time < t_n <= t."""
    x, y, t = (events[f].astype(np.int64) for f in "xyt")
    keep = np.zeros(len(events), bool)
    for i in range(len(events)):
        near = np.abs(x - x[i]) + np.abs(y - y[i]) == 1
        keep[i] = np.any(near & (t <= t[i]) & (t[i] - t < filter_time))
    return events[keep]


@st.composite
def denoise_streams(draw, distinct: bool):
    n = draw(st.integers(0, 120))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    width, height = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    if distinct:  # strictly increasing and from t >= filter_time on: Tonic's quirks vanish
        t = 1000 + np.cumsum(rng.integers(1, 400, n))
    else:
        t = np.cumsum(rng.integers(0, 400, n))
    return make_events(
        rng.integers(0, width, n), rng.integers(0, height, n), t, rng.integers(0, 2, n)
    )


@settings(max_examples=80, deadline=None)
@given(denoise_streams(distinct=True), st.sampled_from([1, 100, 999.5, 1000]))
def test_denoise_equals_tonic_where_tonic_is_right(events, filter_time):
    kept = denoise(events, filter_time)
    if len(events):
        np.testing.assert_array_equal(kept, denoise_numpy(events, filter_time))


@settings(max_examples=80, deadline=None)
@given(denoise_streams(distinct=False), st.sampled_from([1, 50, 333.3, 5000]), st.integers(0, 99))
def test_denoise_matches_definition_in_any_order(events, filter_time, seed):
    expected = naive_denoise(events, filter_time)
    np.testing.assert_array_equal(denoise(events, filter_time), expected)
    shuffled = events[np.random.default_rng(seed).permutation(len(events))]
    kept = denoise(shuffled, filter_time)
    np.testing.assert_array_equal(
        np.sort(kept, order=["t", "x", "y", "p"]), np.sort(expected, order=["t", "x", "y", "p"])
    )


def test_denoise_quirks_of_tonic_pinned():
    # an early event next to a pixel that never fired: Tonic keeps it (memory starts at
    # filter_time), we drop it
    early = make_events([1, 5], [1, 3], [10, 50_000], [1, 1])
    assert len(denoise_numpy(early, 1000)) == 1 and len(denoise(early, 1000)) == 0
    # two simultaneous neighbours: Tonic keeps only the second in array order, we keep both
    ties = make_events([1, 2], [1, 1], [5000, 5000], [1, 0])
    assert denoise_numpy(ties, 1000)["x"].tolist() == [2]
    assert denoise(ties, 1000)["x"].tolist() == [1, 2]


def test_denoise_far_apart_timestamps_and_dtypes():
    # span x pixels too large for one int64 key: the rank path
    t = np.array([0, 10, 2**61, 2**61 + 5, 2**62], np.int64)
    events = make_events([0, 1, 0, 1, 1], [0, 0, 0, 0, 1], t, [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(denoise(events, 100), naive_denoise(events, 100))
    assert denoise(events, 100)["t"].tolist() == [10, 2**61 + 5]
    tonic_dtype = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
    foreign = np.array([(0, 0, 5, 1), (1, 0, 6, 0)], dtype=tonic_dtype)
    out = Denoise(10)(foreign)
    assert out.dtype == tonic_dtype and out["t"].tolist() == [6]  # t = 5 had no earlier support
    assert len(denoise(events[:0], 10)) == 0
    with pytest.raises(EventFormatError, match="negative x"):
        denoise(make_events([-1], [0], [0], [0]), 10)
