"""Transforms both ways: Tonic's transforms and any callable in ``augment``, ours inside
``tonic.transforms.Compose`` without an rng."""

from __future__ import annotations

import random

import numpy as np
import pytest
import tonic
from test_recorded_fakes import events_in, write_nmnist

from snn_transfer.errors import ConfigError
from snn_transfer.events import event_augment as ea
from snn_transfer.events.datasets import OnEvents, OnFrames, from_tonic, open_tonic
from snn_transfer.events.framing import ToFrame
from snn_transfer.events.framing.augment import SeededCall, augmentations
from snn_transfer.events.transforms import Compose, RandomCrop, RandomFlip, RandomRotation


def noisy_frames(frames, rng):
    """A frame augmentation that takes the sample's generator."""
    return frames + rng.random(frames.shape).astype(np.float32)


def shuffle_polarity(events):
    """An event augmentation drawing from Python's random module (as some user code does)."""
    out = events.copy()
    if random.random() < 0.5:
        out["p"] = 1 - out["p"]
    return out


def test_tonic_drop_event_is_reproducible_per_seed_epoch_and_index(tmp_path):
    root = write_nmnist(tmp_path / "data", np.random.default_rng(4))
    train = open_tonic("NMNIST", root, train=True)
    drop = tonic.transforms.DropEvent(p=0.5)
    data = from_tonic(
        train,
        open_tonic("NMNIST", root, train=False),
        augment=[drop, OnFrames(noisy_frames)],
        time_steps=3,
        seed=7,
        val_fraction=0,
        cache_dir=tmp_path / "cache",
        progress=False,
    )
    split = data.train
    assert [type(t).__name__ for t in split.event_transform.transforms] == ["SeededCall"]
    before = np.random.get_state()[1].copy()
    first, label = split[4]
    assert np.array_equal(np.random.get_state()[1], before)  # the global state is restored
    assert np.array_equal(split[4][0], first)
    # the value: Tonic's DropEvent under np.random seeded from the (seed, epoch, index)
    # generator, our ToFrame, then the frame callable with the same generator
    rng = np.random.default_rng([7, 0, 4])
    np.random.seed(int(rng.integers(0, 2**32)))
    assert split.indices.tolist() == list(range(30))  # Tonic's train split, in its order
    events, _ = train[4]
    kept = drop(events)
    assert 30 < len(kept) < 90  # half of the 120 events dropped
    expected = noisy_frames(ToFrame((34, 34, 2), n_time_bins=3)(kept), rng)
    assert label == train.targets[4] and np.allclose(first, expected)
    split.set_epoch(1)
    assert not np.array_equal(split[4][0], first)
    split.set_epoch(0)
    assert np.array_equal(split[4][0], first)


def test_our_random_transforms_run_inside_tonic_compose_without_an_rng():
    events = events_in(np.random.default_rng(1), 500, 34, 34)
    pipeline = tonic.transforms.Compose(
        [
            ea.DropEvent(0.2),
            tonic.transforms.ToFrame(sensor_size=(34, 34, 2), n_time_bins=4),
            RandomCrop(34, padding=4),
            RandomFlip(0.5),
            Compose((RandomRotation(10),)),
        ]
    )
    np.random.seed(3)
    first = pipeline(events)
    second = pipeline(events)
    np.random.seed(3)
    again = pipeline(events)
    assert first.shape == (4, 2, 34, 34) and first.dtype == np.float32
    assert np.array_equal(first, again) and not np.array_equal(first, second)
    # with a generator they draw from it alone, as before
    crop = RandomCrop(34, padding=4)
    frames = first
    assert np.array_equal(
        crop(frames, np.random.default_rng(0)), crop(frames, np.random.default_rng(0))
    )


def test_augment_places_callables_by_what_they_work_on():
    on_events, on_frames = augmentations(
        ["crop(2)", tonic.transforms.SpatialJitter((34, 34, 2), 1.0), ea.DropEvent(0.1)],
        (34, 34),
        (34, 34, 2),
    )
    assert [type(t).__name__ for t in on_events.transforms] == ["SeededCall", "DropEvent"]
    assert [type(t).__name__ for t in on_frames.transforms] == ["RandomCrop"]
    on_events, on_frames = augmentations(
        [OnEvents(shuffle_polarity), OnFrames(noisy_frames)], (34, 34)
    )
    assert on_events.transforms == (SeededCall(shuffle_polarity),)
    assert on_frames.transforms[0].takes_rng and not on_events.transforms[0].takes_rng
    # a function without an rng parameter: Python's random module is seeded per sample too
    events = events_in(np.random.default_rng(2), 50, 34, 34)
    outcomes = {on_events(events, np.random.default_rng(k))["p"].sum() for k in range(12)}
    assert len(outcomes) == 2
    assert np.array_equal(
        on_events(events, np.random.default_rng(5)), on_events(events, np.random.default_rng(5))
    )
    with pytest.raises(ConfigError, match="cannot tell whether .*noisy_frames.*OnEvents"):
        augmentations([noisy_frames], (34, 34))
    with pytest.raises(ConfigError, match="ToFrame .*framing="):
        augmentations([tonic.transforms.ToFrame(sensor_size=(34, 34, 2), n_time_bins=2)], (34, 34))
    with pytest.raises(ConfigError, match="mixes transforms of events and of frames"):
        augmentations([Compose((ea.DropEvent(0.1), RandomFlip()))], (34, 34))
