"""Configs from dicts, YAML and --set overrides: typed, with the key named on every error."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from snn_transfer.config import (
    apply_overrides,
    from_dict,
    merge,
    parse_override,
    read_yaml,
    to_dict,
)
from snn_transfer.errors import ConfigError
from snn_transfer.losses import LossConfig


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
