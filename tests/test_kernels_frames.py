"""Binning events into frames: ``frames.cu`` (on the CPU harness) and the torch reference equal
the package's CPU framing (``events.framing.to_frame``) in every slicing mode."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snn_transfer.events.core import make_events
from snn_transfer.events.framing import ToFrame, frame_bounds, to_frame
from snn_transfer.kernels._cpu_harness import cpu_kernels
from snn_transfer.kernels.frames import bin_events
from snn_transfer.kernels.reference import bin_events_reference

SENSOR = (23, 17)  # W, H
SPECS = [
    {"n_time_bins": 7},
    {"n_time_bins": 5, "overlap": 0.5},
    {"n_event_bins": 4},
    {"n_event_bins": 6, "overlap": 0.25},
    {"time_window": 900.0},
    {"time_window": 700.0, "overlap": 200.0, "include_incomplete": True},
    {"event_count": 150},
    {"event_count": 120, "overlap": 40, "include_incomplete": True},
]


def _events(seed: int, n: int = 1500) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 10_000, n))
    # a hot pixel makes many events collide on one address (atomic adds)
    x = np.where(rng.random(n) < 0.2, 3, rng.integers(0, SENSOR[0], n))
    y = np.where(x == 3, 5, rng.integers(0, SENSOR[1], n))
    return make_events(x, y, t, rng.integers(0, 2, n))


def _coords(events: np.ndarray):
    return [torch.from_numpy(events[f].astype(np.int64)) for f in ("x", "y", "p")]


@pytest.fixture(scope="module")
def kernels():
    try:
        return cpu_kernels()
    except RuntimeError as error:
        pytest.skip(f"CPU harness unavailable: {error}")


@pytest.mark.parametrize("n_pol", [1, 2])
@pytest.mark.parametrize("options", SPECS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_kernel_and_reference_equal_the_cpu_framing(kernels, options, n_pol):
    events = _events(len(str(options)) + n_pol)
    spec = ToFrame(sensor_size=(*SENSOR, n_pol), **options)
    want = torch.from_numpy(to_frame(events, spec))
    starts, ends = frame_bounds(events["t"], spec)
    x, y, p = _coords(events)
    got = kernels.bin_events(
        x, y, p, torch.from_numpy(starts), torch.from_numpy(ends), spec.sensor_size
    )
    assert want.shape[1:] == (n_pol, SENSOR[1], SENSOR[0]) and want.sum() > 0
    assert torch.equal(got, want)
    assert torch.equal(bin_events_reference(x, y, p, starts, ends, spec.sensor_size), want)
    assert torch.equal(bin_events(x, y, p, starts, ends, spec.sensor_size), want)


def test_a_batch_of_streams_is_framed_at_once(kernels):
    spec = ToFrame(sensor_size=(*SENSOR, 2), n_time_bins=6)
    streams = [_events(seed, n) for seed, n in ((1, 800), (2, 1), (3, 2500))]
    coords = [torch.cat(parts) for parts in zip(*map(_coords, streams), strict=True)]
    bounds, offset = [], 0
    for events in streams:
        starts, ends = frame_bounds(events["t"], spec)
        bounds.append((starts + offset, ends + offset))
        offset += len(events)
    starts, ends = (torch.from_numpy(np.concatenate(b)) for b in zip(*bounds, strict=True))
    got = kernels.bin_events(*coords, starts, ends, spec.sensor_size, blocks=(4, 5))
    want = torch.from_numpy(np.concatenate([to_frame(events, spec) for events in streams]))
    assert got.shape == (18, 2, SENSOR[1], SENSOR[0])
    assert torch.equal(got, want)


def test_the_kernel_skips_events_outside_the_sensor(kernels):
    x = torch.tensor([0, 23, -1, 4, 4])
    y = torch.tensor([0, 0, 0, 17, 2])
    p = torch.tensor([0, 1, 0, 1, 2])
    frames = kernels.bin_events(x, y, p, torch.tensor([0]), torch.tensor([5]), (*SENSOR, 2))
    assert frames.sum() == 1 and frames[0, 0, 0, 0] == 1


def test_bad_events_and_bounds_are_reported():
    x, y, p = torch.tensor([0, 30]), torch.tensor([1, 1]), torch.tensor([0, 1])
    with pytest.raises(ValueError, match=r"event 1: x=30 is outside \[0, 23\)"):
        bin_events(x, y, p, [0], [2], (*SENSOR, 2))
    with pytest.raises(ValueError, match="P = 2 polarities but p is None"):
        bin_events(x[:1], y[:1], None, [0], [1], (*SENSOR, 2))
    with pytest.raises(ValueError, match=r"frame bounds must lie in \[0, 2\]"):
        bin_events(x, y, p, [0], [3], (40, 40, 2))
    with pytest.raises(ValueError, match="P 1 or 2"):
        bin_events(x, y, p, [0], [1], (40, 40, 3))
    with pytest.raises(ValueError, match="backend='cupy' needs CUDA tensors"):
        bin_events(x, y, p, [0], [1], (40, 40, 2), backend="cupy")
    # merged polarities ignore p entirely
    frames = bin_events(x, y, torch.tensor([5, 7]), [0, 1], [2, 2], (40, 40, 1))
    assert frames.shape == (2, 1, 40, 40) and frames[0].sum() == 2 and frames[1, 0, 1, 30] == 1
