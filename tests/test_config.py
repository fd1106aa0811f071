"""Configs from dicts, YAML and --set overrides: typed, with the key named on every error;
``TransferConfig`` refuses every impossible value with its dotted key and allowed range."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from snn_transfer.config_loader import (
    apply_overrides,
    from_dict,
    merge,
    parse_override,
    read_yaml,
    set_dotted,
    to_dict,
)
from snn_transfer.errors import ConfigError
from snn_transfer.losses import LossConfig
from snn_transfer.run_config import TransferConfig, check_dataset_size


@dataclass
class Optim:
    lr: float = 0.1
    epochs: int = 3
    schedule: str = "cosine"


@dataclass
class Run:
    seed: int = 0
    optim: Optim = field(default_factory=Optim)
    loss: LossConfig = field(default_factory=LossConfig)
    fraction: float | None = None
    tags: list[str] = field(default_factory=list)
    options: dict = field(default_factory=dict)


def test_nested_build_and_round_trip():
    run = from_dict(
        Run,
        {"seed": 3, "optim": {"lr": 1, "epochs": 5.0}, "loss": {"alpha": 0.25}, "tags": ["a"]},
    )
    assert run.optim.lr == 1.0 and isinstance(run.optim.lr, float) and run.optim.epochs == 5
    assert run.loss.alpha == 0.25 and run.loss.alignment == "cka"
    assert from_dict(Run, to_dict(run)) == run


def test_unknown_key_is_named_with_the_allowed_keys():
    with pytest.raises(
        ConfigError,
        match=r"unknown config key optim\.lrr; allowed keys under optim: epochs, lr, schedule",
    ):
        from_dict(Run, {"optim": {"lrr": 0.1}})


def test_wrong_types_name_the_key():
    with pytest.raises(ConfigError, match=r"optim\.epochs = 'many' must be an integer"):
        from_dict(Run, {"optim": {"epochs": "many"}})
    with pytest.raises(ConfigError, match=r"fraction = 'x' must be float or NoneType"):
        from_dict(Run, {"fraction": "x"})
    with pytest.raises(ConfigError, match=r"loss.alpha = -1.0 must be a finite number >= 0"):
        from_dict(Run, {"loss": {"alpha": -1}})


def test_overrides_parse_yaml_scalars_and_nest():
    data = apply_overrides({}, ["optim.lr=0.01", "seed=7", "fraction=null", "tags=[x, y]"])
    assert data == {"optim": {"lr": 0.01}, "seed": 7, "fraction": None, "tags": ["x", "y"]}
    assert from_dict(Run, data).optim.lr == 0.01
    with pytest.raises(ConfigError, match="must look like key=value"):
        parse_override("epochs")
    with pytest.raises(ConfigError, match="seed is a value, not a section"):
        apply_overrides({"seed": 1}, ["seed.x=2"])


def test_yaml_files_and_merge(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("seed: 4\noptim:\n  lr: 0.5\n")
    data = merge({"optim": {"lr": 0.1, "epochs": 9}}, read_yaml(path))
    assert data == {"seed": 4, "optim": {"lr": 0.5, "epochs": 9}}
    with pytest.raises(ConfigError, match="does not exist"):
        read_yaml(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        read_yaml(tmp_path / "bad.yaml")


# --- TransferConfig: every bad value is refused with its dotted key and the allowed range ---


def transfer(**dotted):
    data: dict = {}
    for key, value in dotted.items():
        set_dotted(data, key.replace("__", "."), value)
    return TransferConfig.from_dict(data)


BAD_CONFIGS = {
    # unknown keys
    "unknown top-level key": (
        {"epoch": 3},
        r"unknown config key epoch; allowed keys: amp, checkpoint_every, .*epochs",
    ),
    "unknown nested key": (
        {"data.batchsize": 3},
        r"unknown config key data\.batchsize; allowed keys under data: batch_size, ",
    ),
    "unknown optim key": ({"optim.lr": 0.1}, r"unknown config key optim\.lr; .* base_lr"),
    # wrong types
    "epochs as text": ({"epochs": "ten"}, r"^epochs = 'ten' must be an integer$"),
    "fractional batch": ({"data.batch_size": 2.5}, r"data\.batch_size = 2\.5 must be an integer"),
    "learning rate as text": ({"optim.base_lr": "fast"}, r"optim\.base_lr = 'fast' must be a num"),
    "flag as text": ({"compile": "yes"}, r"compile = 'yes' must be true or false"),
    "section as a value": ({"optim": 0.1}, r"optim must be a mapping of OptimConfig fields"),
    # impossible values
    "time_steps 0": ({"time_steps": 0}, r"time_steps = 0 must be >= 1"),
    "epochs 0": ({"epochs": 0}, r"epochs = 0 must be >= 1"),
    "negative epochs": ({"epochs": -3}, r"epochs = -3 must be >= 1"),
    "negative pretrain epochs": ({"pretrain_epochs": -1}, r"pretrain_epochs = -1 must be >= 0"),
    "learning rate 0": ({"optim.base_lr": 0}, r"optim\.base_lr = 0\.0 must be > 0"),
    "negative learning rate": ({"optim.base_lr": -0.1}, r"optim\.base_lr = -0\.1 must be > 0"),
    "NaN learning rate": ({"optim.base_lr": float("nan")}, r"optim\.base_lr = nan must be > 0"),
    "infinite learning rate": (
        {"optim.base_lr": float("inf")},
        r"optim\.base_lr = inf must be a finite number > 0",
    ),
    "negative warm-up lr": (
        {"optim.warmup_lr": -1e-6},
        r"optim\.warmup_lr = -1e-06 must be a finite number >= 0",
    ),
    "negative min lr": (
        {"optim.min_lr": -1},
        r"optim\.min_lr = -1\.0 must be a finite number >= 0",
    ),
    "negative weight decay": (
        {"optim.weight_decay": -0.01},
        r"optim\.weight_decay = -0\.01 must be >= 0",
    ),
    "eps 0": ({"optim.eps": 0}, r"optim\.eps = 0\.0 must be a finite number > 0"),
    "step gamma 0": (
        {"optim.step_gamma": 0},
        r"optim\.step_gamma = 0\.0 must be a number in \(0, 1\]",
    ),
    "step gamma 2": (
        {"optim.step_gamma": 2},
        r"optim\.step_gamma = 2\.0 must be a number in \(0, 1\]",
    ),
    "negative warm-up": ({"optim.warmup_epochs": -1}, r"optim\.warmup_epochs must be >= 0"),
    "step epochs 0": ({"optim.step_epochs": 0}, r"optim\.step_epochs >= 1"),
    "batch size 0": ({"data.batch_size": 0}, r"^data\.batch_size = 0 must be an integer >= 1$"),
    "negative batch size": (
        {"data.batch_size": -8},
        r"data\.batch_size = -8 must be an integer >= 1",
    ),
    "eval batch size 0": (
        {"data.eval_batch_size": 0},
        r"^data\.eval_batch_size = 0 must be an integer >= 1$",
    ),
    "negative epoch samples": (
        {"data.epoch_samples": -1},
        r"data\.epoch_samples = -1 must be >= 0",
    ),
    "negative workers": ({"data.workers": -1}, r"data\.workers = -1 must be >= 0"),
    "event fraction 0": (
        {"data.options.event_fraction": 0},
        r"data\.options\.event_fraction = 0 must be a number in \(0, 1\]",
    ),
    "event fraction above 1": (
        {"data.options.event_fraction": 1.5},
        r"data\.options\.event_fraction = 1\.5 must be a number in \(0, 1\]",
    ),
    "negative static fraction": (
        {"data.options.static_fraction": -0.1},
        r"data\.options\.static_fraction = -0\.1 must be a number in \(0, 1\]",
    ),
    "fraction as text": (
        {"data.options.static_fraction": "half"},
        r"data\.options\.static_fraction = 'half' must be a number in \(0, 1\]",
    ),
    "validation fraction 1": (
        {"data.options.val_fraction": 1.0},
        r"data\.options\.val_fraction = 1\.0 must be a number in \[0, 1\)",
    ),
    "test fraction 0": (
        {"data.options.test_fraction": 0},
        r"data\.options\.test_fraction = 0 must be a number in \(0, 1\)",
    ),
    "fixed coefficient above 1": (
        {"loss.fixed_coefficient": 1.5},
        r"loss\.fixed_coefficient = 1\.5 is outside \[0, 1\]",
    ),
    "lambda above 1": ({"loss.lam": 2}, r"loss\.lam = 2\.0 is outside \[0, 1\]"),
    "negative alpha": ({"loss.alpha": -1}, r"loss\.alpha = -1\.0 must be a finite number >= 0"),
    "infinite phi": ({"loss.phi": float("inf")}, r"loss\.phi = inf must be a finite number"),
    "sliding power 0": ({"sliding.power": 0}, r"sliding\.power = 0\.0 must be a finite number > 0"),
    "negative sliding power": (
        {"sliding.power": -2.5},
        r"sliding\.power = -2\.5 must be a finite number > 0",
    ),
    "unknown sliding kind": (
        {"sliding.kind": "linear"},
        r"sliding\.kind = 'linear' must be one of power, none, two_stage",
    ),
    "negative seed": ({"seed": -1}, r"^seed = -1 must be an integer >= 0$"),
    "negative threads": ({"threads": -2}, r"^threads = -2 must be an integer >= 0$"),
    "negative checkpoint interval": (
        {"checkpoint_every": -1},
        r"^checkpoint_every = -1 must be an integer >= 0$",
    ),
    "keep no checkpoint": ({"keep_checkpoints": 0}, r"keep_checkpoints = 0 must be >= 1"),
    "unknown device": ({"device": "gpu"}, r"device = 'gpu' must be auto, cpu, cuda or cuda:<"),
    "unknown amp": ({"amp": "fp8"}, r"amp = 'fp8'; choose one of \('none', 'bf16', 'fp16'\)"),
    "unknown BN statistics": (
        {"model.bn_running_stats": "all"},
        r"model\.bn_running_stats = 'all' must be one of event, both",
    ),
    "pretrain-finetune without pretraining": (
        {"mode": "pretrain-finetune"},
        r"mode = 'pretrain-finetune' needs pretrain_epochs >= 1",
    ),
}


@pytest.mark.parametrize("case", BAD_CONFIGS)
def test_bad_configs_are_refused_naming_the_key_and_the_range(case):
    overrides, message = BAD_CONFIGS[case]
    data: dict = {}
    for key, value in overrides.items():
        set_dotted(data, key, value)
    with pytest.raises(ConfigError, match=message):
        TransferConfig.from_dict(data)


def test_edge_values_that_are_allowed():
    config = transfer(
        epochs=1,
        time_steps=1,
        seed=0,
        data__batch_size=1,
        data__eval_batch_size=1,
        data__options={"event_fraction": 1, "static_fraction": 0.01, "val_fraction": 0},
        optim__warmup_epochs=0,
        optim__step_gamma=1,
        optim__min_lr=0,
        sliding__kind="none",
        device="cuda:1",
    )
    assert config.data.options["event_fraction"] == 1 and config.data.batch_size == 1
    # dataset options without a shared meaning are left to the dataset
    assert transfer(data__options={"per_class": 7}).data.options == {"per_class": 7}


def test_a_warm_up_as_long_as_the_run_is_shortened_with_a_note():
    from snn_transfer.errors import ConfigNote
    from snn_transfer.optim import epoch_lr

    # a recipe's 5 warm-up epochs tried with epochs=1 would train at warmup_lr (1e-6) only
    with pytest.warns(ConfigNote, match=r"warmup_epochs = 5 is not shorter than the run \(1 ep"):
        config = transfer(epochs=1, optim__warmup_epochs=5)
    assert config.optim.warmup_epochs == 0
    assert epoch_lr(config.optim, 1.0, 0, 1) == 1.0  # the peak rate from the first epoch
    # pretraining epochs count: 2 + 2 epochs leave 3 for the warm-up; the last epoch follows
    # the schedule after it (cosine, which counts the warm-up epochs as the reference's does)
    with pytest.warns(ConfigNote, match="shortened to 3"):
        longer = transfer(epochs=2, pretrain_epochs=2, optim__warmup_epochs=4)
    assert longer.optim.warmup_epochs == 3
    assert epoch_lr(longer.optim, 1.0, 3, 4) == pytest.approx(
        1e-5 + 0.5 * (1 - 1e-5) * 0.2929, rel=1e-3
    )
    # stored that way, the config reads back without a second note
    import warnings

    from snn_transfer.config_loader import to_dict

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert TransferConfig.from_dict(to_dict(config)) == config
        assert transfer(epochs=3, optim__warmup_epochs=2).optim.warmup_epochs == 2


def test_bn_running_stats_choices_agree_with_the_model():
    from snn_transfer.models.transfer import BN_RUNNING_STATS
    from snn_transfer.run_config import BN_RUNNING_STATS as CHECKED

    assert CHECKED == BN_RUNNING_STATS


@pytest.mark.parametrize(
    ("batch", "epoch_samples", "train", "message"),
    [
        (
            64,
            0,
            40,
            r"data\.batch_size = 64 is larger than the training split \(40 samples\); .*"
            r"data\.batch_size must be in 1\.\.40",
        ),
        (
            64,
            30,
            400,
            r"data\.batch_size = 64 is larger than data\.epoch_samples = 30; .*must be in 1\.\.30",
        ),
        (8, 0, 0, r"the training split of data\.dataset = 'digits' is empty"),
    ],
)
def test_a_batch_the_training_split_cannot_fill_is_refused(batch, epoch_samples, train, message):
    config = transfer(data__batch_size=batch, data__epoch_samples=epoch_samples)
    with pytest.raises(ConfigError, match=message):
        check_dataset_size(config, train)


def test_a_batch_that_fits_is_accepted():
    check_dataset_size(transfer(data__batch_size=40), 40)
    # epoch_samples draws more samples than the split holds: the batch may exceed the split
    check_dataset_size(transfer(data__batch_size=64, data__epoch_samples=128), 40)


def test_the_trainer_refuses_the_batch_before_building_the_model(monkeypatch):
    from types import SimpleNamespace

    from snn_transfer import trainer

    def no_model(*args, **kwargs):
        raise AssertionError("the model was built before the batch size was checked")

    monkeypatch.setattr(trainer, "build_model", no_model)
    data = SimpleNamespace(
        frame_shape=(2, 2, 8, 8), has_static=False, val=[0], train=[0] * 5, classes=("a", "b")
    )
    config = transfer(mode="baseline", time_steps=2, device="cpu", data__batch_size=8)
    with pytest.raises(ConfigError, match=r"data\.batch_size = 8 is larger than the training"):
        trainer.Trainer(config, data=data, progress=False)


def test_build_dataset_silences_the_datasets_bars_without_progress(monkeypatch):
    import snn_transfer.events.registry as registry
    from snn_transfer.run_config import build_dataset

    seen: dict = {}
    monkeypatch.setattr(registry, "load_dataset", lambda name, **options: seen.update(options))
    build_dataset(transfer(), progress=False)
    assert seen["progress"] is False
    seen.clear()
    build_dataset(transfer())
    assert "progress" not in seen
    seen.clear()  # an explicit data.options.progress wins
    build_dataset(transfer(data__options={"progress": True}), progress=False)
    assert seen["progress"] is True
