"""The transfer trainer on the offline digits data: learning, resume, failures, prediction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snn_transfer.config_loader import set_dotted
from snn_transfer.errors import ConfigError, DatasetError
from snn_transfer.events.datasets import load_dataset
from snn_transfer.losses import LossConfig, transfer_objective
from snn_transfer.models import TransferModel, create_model
from snn_transfer.run_config import TransferConfig
from snn_transfer.rundir import load_run, read_metrics_csv
from snn_transfer.step import TrainingDiverged
from snn_transfer.trainer import Trainer

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


def config(cache, **overrides):
    data = {
        "epochs": 2,
        "time_steps": 4,
        "seed": 3,
        "data": {
            "options": {"per_class": 20, "cache_dir": cache, "progress": False},
            "batch_size": 16,
        },
        "optim": {"warmup_epochs": 0, "base_lr": 0.05},
    }
    for key, value in overrides.items():
        set_dotted(data, key, value)
    return TransferConfig.from_dict(data)


def test_gradients_reach_eta_both_heads_and_the_backbone():
    torch.manual_seed(0)
    model = TransferModel(create_model("tiny", 10), num_steps=4)
    static = torch.rand(4, 8, 2, 34, 34) * 2
    event = torch.rand(4, 8, 2, 34, 34) * 2
    labels = torch.arange(8) % 10
    out = model(static, event)
    loss, _ = transfer_objective(
        LossConfig(),
        labels,
        out.event_logits,
        out.static_logits,
        out.event_features,
        out.static_features,
        out.str_coefficients,
    )
    loss.backward()
    assert model.str_coefficients.grad.abs().min() > 0
    heads = {n: p for n, p in model.named_parameters() if "head" in n}
    assert heads and all(p.grad is not None and p.grad.abs().sum() > 0 for p in heads.values())
    conv = [p for n, p in model.named_parameters() if "head" not in n and p.ndim == 4]
    assert conv and all(p.grad.abs().sum() > 0 for p in conv)


def test_short_training_lowers_the_loss_and_writes_the_run_directory(cache, tmp_path):
    result = Trainer(config(cache, epochs=4), tmp_path, progress=False, quiet=True).fit()
    rows = read_metrics_csv(tmp_path / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert float(rows[-1]["loss_total"]) < float(rows[0]["loss_total"])
    assert result["selected_on"] == "validation" and result["best_epoch"] in range(1, 5)
    assert {"sigma_0", "sigma_3", "val_acc", "test_acc", "slide_p", "lr"} <= set(rows[0])
    assert any(k.startswith("firing_") for k in rows[0])
    for name in ("config.yaml", "meta.json", "result.json", "best.pt"):
        assert (tmp_path / name).exists(), name
    checkpoints = sorted((tmp_path / "checkpoints").glob("ckpt-*.pt"))
    assert len(checkpoints) == 2  # rotation keeps 2
    # every checkpoint is a PyTorch file made of tensors and plain data
    for path in (tmp_path / "best.pt", *checkpoints):
        state = torch.load(path, weights_only=True)
        assert state["framing"]["class"] == "ToFrame" and state["rng"]["numpy"]["pos"] >= 0
        assert state["model_source"]["module"] == "snn_transfer.models.tiny"
    assert torch.load(tmp_path / "best.pt", weights_only=True)["epoch"] == result["best_epoch"]


def test_resume_equals_an_uninterrupted_run(cache, tmp_path):
    cfg = config(cache, epochs=3)
    whole = Trainer(cfg, tmp_path / "whole", progress=False, quiet=True)
    whole.fit()
    part = Trainer(cfg, tmp_path / "part", progress=False, quiet=True)
    part.fit(stop_after=4)  # mid-epoch 2 (3 iterations per epoch)
    assert part.epoch == 1 and part.iteration == 4
    resumed = Trainer.resume(tmp_path / "part", progress=False, quiet=True)
    assert resumed.iteration == 4 and resumed.position == 16
    resumed.fit()
    for (name, a), b in zip(
        whole.model.state_dict().items(), resumed.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(whole.history) == strip(resumed.history)


def test_non_finite_loss_names_the_term_and_the_last_checkpoint(cache, tmp_path, monkeypatch):
    import snn_transfer.step as step_module

    def broken(*args, **kwargs):
        loss, terms = transfer_objective(*args, **kwargs)
        terms["align"] = torch.tensor(float("nan"))
        return loss, terms

    trainer = Trainer(config(cache), tmp_path, progress=False, quiet=True)
    trainer.fit(stop_after=3)
    monkeypatch.setattr(step_module, "transfer_objective", broken)
    with pytest.raises(
        TrainingDiverged, match=r"'align' is nan at iteration 3 .*ckpt-000000003\.pt"
    ):
        Trainer.resume(tmp_path, progress=False, quiet=True).fit()


def test_modes_and_alignments_run(cache):
    for overrides in (
        {"mode": "baseline"},
        {"mode": "pretrain-finetune", "pretrain_epochs": 1, "epochs": 1},
        {"loss.alignment": "mmd", "epochs": 1},
        {"loss.alignment": "coral", "epochs": 1, "loss.str_mode": "none"},
        {"loss.alignment": "dann", "epochs": 1},
        {"loss.str_mode": "fixed", "loss.fixed_coefficient": 1.0, "epochs": 1},
        {"sliding.kind": "two_stage", "parity_no_sliding_drops_alignment": True, "epochs": 2},
    ):
        trainer = Trainer(config(cache, **overrides), progress=False, quiet=True)
        result = trainer.fit()
        assert result["epochs_done"] == trainer.config.total_epochs, overrides
        assert np.isfinite(trainer.history[-1]["loss_total"]), overrides
    phases = [r["phase"] for r in trainer.history]
    assert phases == ["transfer", "transfer"]
    last = trainer.history[-1]  # the parity flag dropped alignment (alpha 0), kept STR
    assert last["loss_total"] == pytest.approx(last["loss_static"] + last["loss_event"], rel=1e-5)
    assert "loss_align" in last


def test_config_errors_before_training(cache, tmp_path):
    with pytest.raises(ConfigError, match="mode = 'fancy'"):
        config(cache, mode="fancy")
    with pytest.raises(ConfigError, match="time_steps = 0 must be >= 1"):
        config(cache, time_steps=0)
    with pytest.raises(ConfigError, match="batch_size = 500 is larger than the training split"):
        Trainer(config(cache, **{"data.batch_size": 500}), progress=False)
    data = load_dataset(
        "digits", per_class=20, time_steps=4, seed=3, cache_dir=cache, progress=False
    )
    data.static_pool = None
    with pytest.raises(DatasetError, match="no static images.*baseline"):
        Trainer(config(cache), data=data, progress=False)
    # an unknown model or model option fails before the dataset is even looked for
    missing = {"data.dataset": "fashion-mnist", "data.options": {"root": str(tmp_path / "none")}}
    with pytest.raises(ConfigError, match="model='vgg' is unknown; choose one of .*tiny"):
        Trainer(config(cache, **missing, **{"model.name": "vgg"}), progress=False)
    with pytest.raises(ConfigError, match="option 'width' is not accepted by model 'tiny'"):
        Trainer(config(cache, **missing, **{"model.options": {"width": 3}}), progress=False)


def test_load_run_predicts_event_streams_and_files(cache, tmp_path):
    trainer = Trainer(
        config(cache, epochs=3, mode="baseline"), tmp_path, progress=False, quiet=True
    )
    trainer.fit()
    run = load_run(tmp_path)
    split = trainer.data.test
    events, label = split.events[int(split.indices[0])]
    from_events = run.predict(events)
    frames, _ = split[0]
    from_frames = run.predict(frames)
    assert from_events == from_frames
    assert from_events[0]["class"] in run.classes and 0 < from_events[0]["confidence"] <= 1
    from snn_transfer.events.io import write_events

    path = write_events(tmp_path / "sample.h5", events, "hdf5", sensor_size=(34, 34, 2))
    assert run.predict(path) == from_events
    # predictions of the loaded model equal the trainer's own evaluation
    evaluated = trainer.evaluate(split)["predictions"]
    best = load_run(
        tmp_path,
        checkpoint="checkpoints/"
        + sorted(p.name for p in (tmp_path / "checkpoints").glob("*.pt"))[-1],
    )
    stacked = [best.predict(split[i][0])[0]["label"] for i in range(len(split))]
    assert stacked == evaluated.tolist()
