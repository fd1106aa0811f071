"""Evaluating a run: accuracy and confusion agree with training, op counts by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from spikingjelly.activation_based import layer, neuron
from torch import nn

from snn_transfer.errors import ConfigError
from snn_transfer.eval_report import (
    format_evaluation,
    format_predictions,
    top_confusions,
    write_evaluation,
)
from snn_transfer.evaluate import evaluate_run
from snn_transfer.op_counter import E_AC_PJ, E_MAC_PJ, OpCounter
from snn_transfer.run_config import TransferConfig
from snn_transfer.rundir import load_run
from snn_transfer.trainer import Trainer

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    cache = tmp_path_factory.getbasetemp() / "digits-cache"  # shared with test_compare
    config = TransferConfig.from_dict(
        {
            "mode": "baseline",
            "epochs": 2,
            "time_steps": 4,
            "model": {"options": {"bn": False}},  # every layer fires after 2 epochs
            "data": {
                "options": {"per_class": 20, "cache_dir": str(cache), "progress": False},
                "batch_size": 16,
            },
            "optim": {"warmup_epochs": 0, "base_lr": 0.05},
        }
    )
    Trainer(config, root / "run", progress=False, quiet=True).fit()
    return root / "run"


@pytest.fixture(scope="module")
def evaluation(run_dir):
    return evaluate_run(run_dir, "test", batch_size=7)  # several batches, a short last one


def test_accuracy_and_confusion_agree_with_the_run_and_the_predictions(run_dir, evaluation):
    r = evaluation
    truth, pred = np.array(r["labels"]), np.array(r["predictions"])
    confusion = np.array(r["confusion"])
    k = len(r["classes"])
    assert r["n"] == 20 and confusion.shape == (k, k) and confusion.sum() == r["n"]
    assert r["accuracy"] == pytest.approx(np.trace(confusion) / r["n"])
    assert r["accuracy"] == pytest.approx(float((truth == pred).mean()))
    for i, name in enumerate(r["classes"]):
        assert confusion[i].sum() == (truth == i).sum() == r["class_counts"][name]
        assert confusion[:, i].sum() == (pred == i).sum()
        if (truth == i).any():
            assert r["per_class"][name] == pytest.approx((pred[truth == i] == i).mean())
    # the best checkpoint's test accuracy is what the trainer recorded for that epoch
    recorded = json.loads((run_dir / "result.json").read_text())
    assert r["accuracy"] == pytest.approx(recorded["test_acc"])


def test_firing_rates_match_the_trainers_on_the_same_split(run_dir):
    r = evaluate_run(run_dir, "val")
    history = load_run(run_dir).state["history"]
    best = json.loads((run_dir / "result.json").read_text())["best_epoch"]
    row = history[best - 1]
    # the trainer measured the val split in one batch of 20: the same mean
    assert r["firing"] == pytest.approx({k[7:]: v for k, v in row.items() if k[:7] == "firing_"})
    assert all(0 < rate < 1 for rate in r["firing"].values())


def test_ops_of_the_run_use_macs_for_the_first_layer_and_sops_after(evaluation):
    ops = evaluation["ops"]
    layers = ops["layers"]
    assert list(layers) == [
        "backbone.features.0",
        "backbone.features.3",
        "backbone.features.6",
        "backbone.event_head",
    ]
    first = layers["backbone.features.0"]
    # tiny: Conv3x3(2 -> 16) on 34x34 with padding 1, run at every one of the 4 steps
    assert first["kind"] == "mac" and first["sops"] == 0
    assert first["dense_macs_per_step"] == 16 * 34 * 34 * 2 * 9
    assert first["macs"] == pytest.approx(4 * 16 * 34 * 34 * 2 * 9)
    for name in list(layers)[1:]:
        layer_ops = layers[name]
        assert layer_ops["kind"] == "ac" and layer_ops["macs"] == 0
        # fan-out-weighted inputs: dense MACs x input rate, less at the padded border
        bound = 4 * layer_ops["dense_macs_per_step"] * layer_ops["input_rate"]
        assert 0.6 * bound < layer_ops["sops"] <= bound * (1 + 1e-9)
    assert layers["backbone.event_head"]["sops"] == pytest.approx(
        4
        * layers["backbone.event_head"]["dense_macs_per_step"]
        * layers["backbone.event_head"]["input_rate"]
    )
    assert ops["energy_pj"] == pytest.approx(E_MAC_PJ * ops["macs"] + E_AC_PJ * ops["sops"])


def test_sop_counts_of_a_hand_checked_network():
    # 1x1 conv (weight 1) -> LIF (tau 2, threshold 0.5): an input of 2 spikes, 0 does not
    conv1 = layer.Conv2d(1, 1, 1, bias=False, step_mode="m")
    conv2 = layer.Conv2d(1, 2, 3, padding=1, bias=False, step_mode="m")
    fc = nn.Linear(8, 3)
    for module in (conv1, conv2):
        nn.init.ones_(module.weight)
    lif = dict(tau=2.0, v_threshold=0.5, detach_reset=True, step_mode="m")
    net = nn.Sequential(
        conv1,
        neuron.LIFNode(**lif),
        conv2,  # any spike in its 3x3 window makes a position fire
        neuron.LIFNode(**lif),
        layer.AvgPool2d(2, step_mode="m"),
        layer.Flatten(step_mode="m"),
        fc,
    ).eval()
    x = torch.zeros(2, 1, 1, 4, 4)  # [T, B, C, H, W]
    x[0, 0, 0, 0, 0] = x[0, 0, 0, 2, 2] = 2.0  # a corner and an interior pixel at t = 0
    x[1, 0, 0, 0, 2] = 2.0  # an edge pixel at t = 1
    with torch.no_grad(), OpCounter(net) as counter:
        net(x)
    ops = counter.summary(samples=1, time_steps=2)
    layers = ops["layers"]
    # conv1 reads real-valued frames: 16 MACs per step
    assert layers["0"] == pytest.approx(
        {
            "kind": "mac",
            "dense_macs_per_step": 16,
            "input_rate": 6 / 32,
            "sops": 0,
            "macs": 32,
            "energy_pj": 32 * E_MAC_PJ,
        }
    )
    # conv2: a spike reaches 4 (corner), 6 (edge) or 9 positions, in 2 channels
    assert layers["2"]["kind"] == "ac" and layers["2"]["sops"] == 2 * (4 + 9) + 2 * 6
    assert layers["2"]["dense_macs_per_step"] == 2 * 16 * 9
    # LIF2: 12 positions x 2 channels fire at t = 0, 6 x 2 at t = 1: 36 spikes, pooled 2x2
    # into 9 spike-equivalents, each reaching 3 outputs
    assert counter.firing_rates() == pytest.approx({"1": 3 / 32, "3": 36 / 64})
    assert layers["6"]["sops"] == pytest.approx(27) and layers["6"]["input_rate"] == 9 / 16
    assert ops["sops"] == pytest.approx(38 + 27) and ops["macs"] == 32
    assert ops["energy_pj"] == pytest.approx(32 * 4.6 + 65 * 0.9)

    # SpikingJelly's SynOpCounter agrees on the layer fed by binary spikes
    from spikingjelly.activation_based.op_counter import DispatchCounterMode, SynOpCounter

    syn = SynOpCounter()
    with torch.no_grad(), DispatchCounterMode([syn]):
        net(x)
    assert sum(syn.get_counts()["Sequential.2"].values()) == 38


def test_outputs_json_png_and_summary(evaluation, tmp_path):
    paths = write_evaluation(evaluation, tmp_path)
    assert [p.name for p in paths] == ["eval-test.json", "confusion-test.png"]
    assert json.loads(paths[0].read_text())["confusion"] == evaluation["confusion"]
    assert paths[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = format_evaluation(evaluation)
    assert f"accuracy {evaluation['accuracy']:.2%}" in text
    assert "backbone.features.1" in text and "MACs" in text and "SOPs" in text and "uJ" in text


def test_top_confusions_are_the_largest_off_diagonal_cells():
    result = {"classes": ["a", "b", "c"], "confusion": [[5, 3, 0], [1, 4, 3], [0, 2, 9]]}
    assert top_confusions(result, limit=3) == [("a", "b", 3), ("b", "c", 3), ("c", "b", 2)]


def test_format_predictions_aligns_columns():
    text = format_predictions(
        ["a.bin", "longer.aedat4"],
        [{"class": "cat", "confidence": 0.5}, {"class": "dog", "confidence": 0.25}],
    )
    assert text.splitlines() == ["a.bin          cat  50.0%", "longer.aedat4  dog  25.0%"]


def test_bad_split_and_mismatched_dataset_are_config_errors(run_dir):
    with pytest.raises(ConfigError, match="split='dev'"):
        evaluate_run(run_dir, "dev")

    class Other:
        name, classes, frame_shape = "other", ("x", "y"), (4, 2, 34, 34)

    with pytest.raises(ConfigError, match="classes"):
        evaluate_run(run_dir, data=Other())


# --- one evaluation loop: the per-epoch metrics count every neuron type ------------------


def _fused_tiny(monkeypatch):
    """The tiny model with the fused LIF layers (their torch reference path on a CPU)."""
    from snn_transfer.models import TransferModel, create_model
    from snn_transfer.models import neurons as neurons_module

    monkeypatch.setattr(neurons_module, "resolve_neuron_backend", lambda name: "cupy")
    torch.manual_seed(0)
    backbone = create_model("tiny", 3, bn=False)
    return TransferModel(backbone, 4, static_branch=False, use_str=False)


def test_epoch_evaluation_counts_the_firing_of_the_fused_neuron(monkeypatch):
    from spikingjelly.activation_based.neuron import LIFNode

    from snn_transfer.evaluate import evaluate_split
    from snn_transfer.kernels import FusedLIFNode

    model = _fused_tiny(monkeypatch)
    fused = [name for name, m in model.named_modules() if isinstance(m, FusedLIFNode)]
    # the fused neuron is a LIFNode, and the only kind of LIFNode in this model
    assert fused == [name for name, m in model.named_modules() if isinstance(m, LIFNode)]
    rng = np.random.default_rng(0)
    split = [
        (rng.poisson(2.0, (4, 2, 34, 34)).astype(np.float32), int(rng.integers(3)))
        for _ in range(10)
    ]
    spikes: dict[str, list[float]] = {}

    def by_hand(name):
        def hook(module, args, out):
            total = spikes.setdefault(name, [0.0, 0.0])
            total[0] += float(out.double().sum())
            total[1] += out.numel()

        return hook

    hooks = [m.register_forward_hook(by_hand(n)) for n, m in model.named_modules() if n in fused]
    # what the trainer does at the end of every epoch (Trainer.evaluate)
    result = evaluate_split(model, split, batch_size=4)
    for hook in hooks:
        hook.remove()
    assert list(result["firing"]) == fused
    for name in fused:
        assert result["firing"][name] == pytest.approx(spikes[name][0] / spikes[name][1])
    assert any(rate > 0 for rate in result["firing"].values())
    assert model.training  # back in the mode it was in
    assert result["n"] == 10 and len(result["predictions"]) == 10
