"""Options beyond the paper: k shots, event augmentation, emulated static inputs, a shared
head, static pretraining before the transfer, test evaluated only when selected, and the
warning when STR trades the event loss away."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snn_transfer.config_loader import set_dotted
from snn_transfer.epoch_log import str_trading_warning
from snn_transfer.errors import ConfigError
from snn_transfer.events.datasets import load_dataset
from snn_transfer.events.event_augment import DropByArea, DropByTime, DropEvent, SpatialJitter
from snn_transfer.events.framing import augmentations
from snn_transfer.models import TransferModel, create_model
from snn_transfer.run_config import TransferConfig
from snn_transfer.rundir import read_metrics_csv
from snn_transfer.trainer import Trainer

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


def _events(n=2000, size=(34, 34), seed=0):
    rng = np.random.default_rng(seed)
    events = np.zeros(n, [("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i1")])
    events["x"] = rng.integers(0, size[0], n)
    events["y"] = rng.integers(0, size[1], n)
    events["t"] = np.sort(rng.integers(0, 300_000, n))
    events["p"] = rng.integers(0, 2, n)
    return events


def test_event_drops_and_jitter_do_what_they_say():
    events = _events()
    rng = np.random.default_rng(1)
    kept = DropEvent(0.25)(events, rng)
    assert 0.70 < len(kept) / len(events) < 0.80 and len(events) == 2000
    window = DropByTime(0.2)(events, np.random.default_rng(2))
    gone = np.setdiff1d(events["t"], window["t"])
    # one window of 20 % of the span holds every dropped event, and nothing else is dropped
    assert gone.max() - gone.min() <= 0.2 * (events["t"][-1] - events["t"][0])
    assert len(window) + np.isin(events["t"], gone).sum() == len(events)
    area = DropByArea((34, 34, 2), 0.25)(events, np.random.default_rng(3))
    dropped = events[~np.isin(np.arange(len(events)), np.flatnonzero(np.isin(events, area)))]
    assert (
        dropped["x"].max() - dropped["x"].min() < 17
        and dropped["y"].max() - dropped["y"].min() < 17
    )
    jitter = SpatialJitter((34, 34, 2), 1.0)(events, np.random.default_rng(4))
    assert jitter["x"].min() >= 0 and jitter["x"].max() < 34 and jitter["y"].max() < 34
    assert 0.9 < len(jitter) / len(events) <= 1.0
    # the same generator state gives the same result; the input is never modified
    again = SpatialJitter((34, 34, 2), 1.0)(events, np.random.default_rng(4))
    assert np.array_equal(jitter, again) and len(events) == 2000
    # without an rng (as tonic.transforms.Compose calls it) the draw comes from np.random
    np.random.seed(5)
    first = DropEvent(0.1)(events)
    np.random.seed(5)
    assert np.array_equal(DropEvent(0.1)(events), first) and len(first) < len(events)
    with pytest.raises(ConfigError, match="rng must be a np.random.Generator"):
        DropEvent(0.1)(events, 3)


def test_augment_names_split_into_event_and_frame_steps():
    on_events, on_frames = augmentations("crop(2), jitter(0.5), drop(0.2)", (34, 34), (34, 34, 2))
    assert [type(t).__name__ for t in on_events.transforms] == ["SpatialJitter", "DropEvent"]
    assert [type(t).__name__ for t in on_frames.transforms] == ["RandomCrop"]
    assert augmentations([], (34, 34)) == (None, None)
    with pytest.raises(ConfigError, match="needs the sensor size"):
        augmentations(["jitter"], (34, 34), None)
    with pytest.raises(ConfigError, match="unknown augmentation 'blur'"):
        augmentations(["blur"], (34, 34), (34, 34, 2))


def test_shots_are_nested_and_augmentation_is_seeded_per_epoch(cache):
    common = {"per_class": 30, "cache_dir": cache, "progress": False, "time_steps": 4}
    one = load_dataset("digits", shots=1, **common)
    three = load_dataset("digits", shots=3, augment="drop(0.3),crop(2)", **common)
    assert np.bincount(one.train.labels).tolist() == [1] * 10
    assert np.bincount(three.train.labels).tolist() == [3] * 10
    assert set(one.train.indices) <= set(three.train.indices)
    with pytest.raises(ConfigError, match="shots .* or event_fraction, not both"):
        load_dataset("digits", shots=1, event_fraction=0.5, **common)
    three.preload()
    first = three.train[0][0]
    assert np.array_equal(first, three.train[0][0])  # same (seed, epoch, index)
    three.train.set_epoch(1)
    assert not np.array_equal(first, three.train[0][0])
    plain = load_dataset("digits", shots=3, **common)
    assert three.train[0][0].sum() < plain.train[0][0].sum()  # 30 % of the events dropped


def test_v_channel_ablation_is_refused_on_grayscale_images(cache):
    with pytest.raises(ConfigError, match="grayscale, so V, gray and blue are the same plane"):
        load_dataset("digits", per_class=20, cache_dir=cache, progress=False, channel="gray")


def test_emulated_static_inputs_look_like_recordings_and_are_cached(cache):
    common = {"per_class": 20, "cache_dir": cache, "progress": False, "time_steps": 4}
    images = load_dataset("digits", **common)
    emulated = load_dataset("digits", static_input="emulated", **common)
    index = int(images.static_pool.indices[0])
    tiled = images.static_input(index)
    frames = emulated.static_input(index)
    assert frames.shape == tiled.shape == (4, 2, 34, 34)
    # event counts per bin and polarity, both polarities, varying over time (not tiled)
    assert np.array_equal(frames, np.round(frames)) and frames[:, 0].sum() > 0 < frames[:, 1].sum()
    assert not np.array_equal(frames[0], frames[1])
    # the events come where the image is
    lit = images.static_planes[0] > 0.5
    assert frames.sum(axis=(0, 1))[lit].mean() > 3 * frames.sum(axis=(0, 1))[~lit].mean()
    again = load_dataset("digits", static_input="emulated", **common)
    assert np.array_equal(again.static_input(index), frames)
    other = load_dataset(
        "digits", static_input="emulated", static_emulator={"threshold": 0.9}, **common
    )
    assert other.static_input(index).sum() < frames.sum()
    with pytest.raises(ConfigError, match="static_emulator has no field"):
        load_dataset("digits", static_input="emulated", static_emulator={"gain": 1}, **common)
    with pytest.raises(ConfigError, match="static_input = 'video'"):
        load_dataset("digits", static_input="video", **common)


def test_shared_head_is_one_classifier_for_both_branches():
    model = TransferModel(create_model("tiny", 10), num_steps=4, head="shared")
    assert model.backbone.event_head is model.backbone.static_head
    names = [n for n, _ in model.named_parameters() if "head" in n]
    assert names == ["backbone.static_head.weight", "backbone.static_head.bias"]
    separate = TransferModel(create_model("tiny", 10), num_steps=4)
    separate.copy_event_head_to_static()
    assert torch.equal(separate.backbone.static_head.weight, separate.backbone.event_head.weight)
    with pytest.raises(ConfigError, match="model.head = 'tied'"):
        TransferConfig.from_dict({"model": {"head": "tied"}})


def _config(cache, **overrides):
    data = {
        "epochs": 2,
        "time_steps": 4,
        "seed": 1,
        "data": {
            "options": {"per_class": 20, "cache_dir": cache, "progress": False},
            "batch_size": 16,
        },
        "optim": {"warmup_epochs": 0, "base_lr": 0.05},
    }
    for key, value in overrides.items():
        set_dotted(data, key, value)
    return TransferConfig.from_dict(data)


def test_pretraining_before_the_transfer_starts_the_static_head_from_the_event_head(cache):
    config = _config(cache, pretrain_epochs=1, epochs=1)
    trainer = Trainer(config, None, progress=False, quiet=True)
    copies = []
    original = trainer.model.copy_event_head_to_static
    trainer.model.copy_event_head_to_static = lambda: copies.append(trainer.epoch) or original()
    trainer.fit()
    assert copies == [1]  # once, at the first transfer epoch
    assert [row["phase"] for row in trainer.history] == ["pretrain", "transfer"]
    with pytest.raises(ConfigError, match="mode = 'baseline'"):
        _config(cache, mode="baseline", pretrain_epochs=2)


def test_per_step_terms_and_test_only_when_selected(cache, tmp_path):
    config = _config(cache, epochs=3, test_every_epoch=False)
    trainer = Trainer(config, tmp_path / "run", progress=False, quiet=True)
    result = trainer.fit()
    rows = trainer.history  # typed; metrics.csv holds the same columns as text
    written = read_metrics_csv(tmp_path / "run" / "metrics.csv")
    assert len(written) == len(rows) and set(written[0]) == set(rows[0])
    for t in range(4):
        assert rows[0][f"ce_event_{t}"] > 0 and rows[0][f"ce_static_{t}"] > 0
        assert 0 <= rows[0][f"distance_{t}"] <= 1 and 0 < rows[0][f"sigma_{t}"] < 1
    # test is evaluated once at the end: on the last weights and on the selected epoch's
    tested = [i + 1 for i, r in enumerate(rows) if not np.isnan(r["test_acc"])]
    assert tested == sorted({result["best_epoch"], 3})
    assert result["test_acc"] == pytest.approx(rows[result["best_epoch"] - 1]["test_acc"])
    # the same number as a run that tests every epoch
    every = Trainer(_config(cache, epochs=3), None, progress=False, quiet=True).fit()
    assert every["best_epoch"] == result["best_epoch"]
    assert every["test_acc"] == pytest.approx(result["test_acc"])


def test_str_trading_warning_names_the_fix():
    def row(sigma, acc):
        return {"train_acc": acc, "sigma_0": sigma, "sigma_1": sigma}

    history = [row(0.73, 0.4), row(0.75, 0.45), row(0.78, 0.5), row(0.80, 0.55)]
    text = str_trading_warning(history)
    assert "0.730 to 0.800" in text and "loss.str_floor=0.5" in text
    assert str_trading_warning([*history, row(0.82, 0.5)]) is None  # said once
    assert (
        str_trading_warning([row(0.73, 0.4), row(0.75, 0.9), row(0.78, 0.9), row(0.8, 0.9)]) is None
    )
    assert (
        str_trading_warning([row(0.73, 0.4), row(0.72, 0.4), row(0.78, 0.4), row(0.8, 0.4)]) is None
    )
    assert str_trading_warning([{"train_acc": 0.1}] * 5) is None  # no STR
