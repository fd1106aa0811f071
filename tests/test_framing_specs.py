"""PaperFrames (the reference's framing) and the spec values: fingerprints, fields, hashing."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from tonic.functional import to_frame_numpy

from snn_transfer.errors import ConfigError
from snn_transfer.events.core import make_events
from snn_transfer.events.framing import PaperFrames, ToFrame
from snn_transfer.events.transforms import Compose, Denoise, RandomCrop, RandomFlip, Resize


@st.composite
def offset_streams(draw, max_events: int = 60):
    """Events away from the origin in x, y and t, with both polarities present."""
    n = draw(st.integers(2, max_events))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x0, y0, t0 = draw(st.integers(0, 30)), draw(st.integers(0, 30)), draw(st.integers(0, 10**5))
    t = t0 + np.cumsum(rng.integers(0, draw(st.sampled_from([2, 40, 900])), n))
    p = rng.integers(0, 2, n)
    p[:2] = [0, 1]
    width, height = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    return make_events(x0 + rng.integers(0, width, n), y0 + rng.integers(0, height, n), t, p)


def reference_counts(events: np.ndarray, n_bins: int, fork: bool) -> np.ndarray:
    """The reference framing written out plainly: int counts before the resize."""
    x = events["x"] - events["x"].min()
    y = events["y"] - events["y"].min()
    t = events["t"].astype(np.int64)
    window = (t[-1] if fork else t[-1] - t[0]) // n_bins
    counts = np.zeros((n_bins, 2, y.max() + 1, x.max() + 1), np.int64)
    for xi, yi, ti, pi in zip(x, y, t, events["p"], strict=True):
        b = (ti - t[0]) // window if window > 0 else n_bins
        if b < n_bins:
            counts[b, pi, yi, xi] += 1
    return counts


@settings(max_examples=50, deadline=None)
@given(offset_streams(), st.integers(1, 12), st.booleans())
def test_paper_frames_match_plain_reference(events, n_bins, fork):
    counts = reference_counts(events, n_bins, fork)
    expected = F.interpolate(
        torch.from_numpy(counts).float(), size=(48, 48), mode="bilinear", align_corners=True
    ).numpy()
    ours = PaperFrames(n_time_bins=n_bins, fork_window=fork)(events)
    assert ours.shape == (n_bins, 2, 48, 48) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-5)


@settings(max_examples=50, deadline=None)
@given(offset_streams(), st.integers(1, 12))
def test_paper_counts_equal_tonic_on_shifted_events(events, n_bins):
    shifted = events.copy()
    for name in "xyt":
        shifted[name] -= shifted[name].min()
    theirs = to_frame_numpy(shifted, None, n_time_bins=n_bins)  # sensor size inferred
    height, width = theirs.shape[-2:]
    # resizing to the inferred size is the identity, so the raw counts show through
    ours = PaperFrames(n_time_bins=n_bins, size=(height, width))(events)
    np.testing.assert_array_equal(ours, theirs)


def test_fork_window_uses_raw_last_timestamp():
    events = make_events([0, 1, 2, 3], [0, 0, 0, 0], [1000, 1500, 2000, 2999], [1, 1, 1, 1])
    size = (1, 4)
    fork = PaperFrames(n_time_bins=2, size=size, fork_window=True)(events)
    shifted = PaperFrames(n_time_bins=2, size=size)(events)
    # fork: window 2999 // 2 = 1499 from t = 1000; shifted: window 1999 // 2 = 999, the last
    # event (t = 2999 >= 1000 + 2 * 999) is dropped
    assert fork[:, 1].sum(axis=(1, 2)).tolist() == [3, 1]
    assert shifted[:, 1].sum(axis=(1, 2)).tolist() == [2, 1]


def test_paper_frames_empty_and_short_streams():
    empty = PaperFrames(n_time_bins=5)(make_events([], [], [], []))
    assert empty.shape == (5, 2, 48, 48) and not empty.any()
    short = make_events([0, 1], [0, 0], [10, 12], [0, 1])  # 2 us < T: window 0, all dropped
    assert not PaperFrames(n_time_bins=5)(short).any()


def test_paper_frames_keeps_input_and_position_without_shift():
    events = make_events([3, 5], [2, 2], [0, 100], [1, 1])
    before = events.copy()
    frames = PaperFrames(n_time_bins=1, size=(3, 6), shift_xy=False)(events)
    np.testing.assert_array_equal(events, before)
    # unshifted: inferred sensor 6 x 3, the resize to the same size is the identity
    assert frames[0, 1, 2, 3] == 1 and frames[0, 1, 2, 5] == 0  # t = 100 is dropped


def test_paper_frames_parameters():
    assert PaperFrames(10, size=32).size == (32, 32)
    for bad in (dict(n_time_bins=0), dict(n_time_bins=3, size=(48,)), dict(n_time_bins=3, size=0)):
        with pytest.raises(ConfigError):
            PaperFrames(**bad)


SPECS = [
    ToFrame((34, 34, 2), n_time_bins=10),
    ToFrame((34, 34, 2), n_time_bins=10, overlap=0.5),
    ToFrame((34, 34, 1), n_time_bins=10),
    ToFrame((240, 180, 2), time_window=1000, overlap=100, start_time=0, end_time=10**6),
    ToFrame((240, 180, 2), event_count=5000, include_incomplete=True),
    PaperFrames(n_time_bins=10),
    PaperFrames(n_time_bins=10, fork_window=True),
    Compose((Resize(48), RandomCrop(48, padding=4), RandomFlip(0.5))),
    Compose((Resize(48), RandomCrop(48, padding=4), RandomFlip(0.25))),
    Denoise(filter_time=10_000),
]


def test_specs_are_values():
    fingerprints = {spec.fingerprint() for spec in SPECS}
    assert len(fingerprints) == len(SPECS)
    assert all(len(f) == 16 and int(f, 16) >= 0 for f in fingerprints)
    spec = ToFrame(sensor_size=[34, 34, 2], n_time_bins=10, overlap=0.0)
    assert spec == SPECS[0] and hash(spec) == hash(SPECS[0])
    assert spec.fingerprint() == SPECS[0].fingerprint()
    assert repr(spec).startswith("ToFrame(sensor_size=(34, 34, 2), time_window=None")
    assert {SPECS[0], spec} == {spec}


def test_fields_round_trip():
    for spec in SPECS[:7]:
        again = type(spec)(**spec.fields())
        assert again == spec and again.fingerprint() == spec.fingerprint()
    nested = SPECS[7].fields()["transforms"][1]
    assert nested == {"class": "RandomCrop", "fields": {"size": [48, 48], "padding": 4}}


def test_fingerprint_stable_across_processes():
    code = (
        "from snn_transfer.events.framing import ToFrame;"
        "print(ToFrame((34, 34, 2), n_time_bins=10).fingerprint())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == SPECS[0].fingerprint()
    # pinned: a change here means every existing frame cache is invalidated
    assert SPECS[0].fingerprint() == PINNED_FINGERPRINT


PINNED_FINGERPRINT = "d222d26a3f7cecc9"


def test_fingerprint_refuses_unstorable_fields():
    with pytest.raises(ConfigError, match="fingerprint"):
        Compose((np.flipud,)).fingerprint()
