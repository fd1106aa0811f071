"""A network of your own: the SpikingModel contract, ``wrap_spikingjelly``, ``Trainer`` and
``load_run`` with a model instance, and registered models that ``--import`` or an entry point
bring into a new process for eval, predict and export."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys

import pytest
import torch
from spikingjelly.activation_based import layer, neuron
from torch import nn

from snn_transfer.errors import ConfigError
from snn_transfer.models import (
    TransferModel,
    check_spiking_model,
    create_model,
    wrap_spikingjelly,
)
from snn_transfer.run_config import TransferConfig

torch.set_num_threads(1)


def small_net(classes=10, width=8):
    """A SpikingJelly network as one would write it: [T, B, 2, 34, 34] -> [T, B, classes]."""
    return nn.Sequential(
        layer.Conv2d(2, width, 3, padding=1, bias=False),
        neuron.LIFNode(tau=2.0, v_threshold=0.5, detach_reset=True),
        layer.AvgPool2d(4),
        layer.Flatten(),
        layer.Linear(width * 8 * 8, 32),
        neuron.LIFNode(tau=2.0, v_threshold=0.1, detach_reset=True),
        layer.Linear(32, classes),
        neuron.LIFNode(tau=2.0),  # a spiking output layer: the wrapper stops before it
    )


# a user's module: the same network, registered under a name
USER_MODULE = (
    "from torch import nn\n"
    "from spikingjelly.activation_based import layer, neuron\n"
    "from snn_transfer.models import register_model, wrap_spikingjelly\n\n\n"
    + inspect.getsource(small_net)
    + """

@register_model("my-sj-net")
def my_sj_net(num_classes, *, width=8):
    return wrap_spikingjelly(
        small_net(num_classes, width), num_classes, classifier="6", feature_layer="5"
    )


def entry_point_net(num_classes, *, width=8):
    return my_sj_net(num_classes, width=width)
"""
)


def wrapped(classes: int = 10, **kwargs) -> nn.Module:
    return wrap_spikingjelly(small_net(classes), classes, classifier="6", **kwargs)


def frames(shape=(4, 3, 2, 34, 34), seed=0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=gen) > 0.6).float() * 3.0


def test_wrapping_gives_two_heads_per_step_logits_and_a_membrane_feature_tap():
    torch.manual_seed(0)
    net = small_net(10)
    original = net[6]
    model = wrap_spikingjelly(net, 10, classifier="6", feature_layer="5")
    assert model.static_head is original and model.event_head is not original
    assert torch.equal(model.event_head.weight, original.weight)
    check_spiking_model(model)
    x = frames()
    logits, features = model(x, head="static", return_features=True)
    assert logits.shape == (4, 3, 10) and features.shape == (4, 3, 32)
    # features: the post-reset membrane potential of layer 5, with gradients (not spikes)
    assert not torch.all((features == 0) | (features == 1)) and features.requires_grad
    # the heads see the classifier's input: logits equal the head applied to it by hand
    hidden = []
    handle = model.net[5].register_forward_hook(lambda m, a, out: hidden.append(out))
    event = model(x, head="event")
    handle.remove()
    torch.testing.assert_close(event, model.event_head(hidden[0]))
    # every forward starts from state 0 and leaves none behind
    assert torch.equal(model(x), event)
    assert all(m.v == 0.0 for m in model.modules() if isinstance(m, neuron.BaseNode))
    # a classifier with another number of classes is replaced; features default to its input
    other = wrap_spikingjelly(small_net(1000), 5, classifier="6")
    assert other.static_head.out_features == 5 and other.static_head.in_features == 32
    assert other(x, return_features=True)[1].shape == (4, 3, 32)


def test_a_wrapped_network_trains_in_both_branches():
    torch.manual_seed(0)
    model = TransferModel(wrapped(feature_layer="5"), num_steps=4)
    out = model(frames(seed=1), frames(seed=2))
    loss = out.static_logits.square().mean() + out.event_logits.square().mean()
    (loss + out.event_features.mean()).backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert grads["backbone.net.0.weight"].abs().sum() > 0
    assert grads["backbone.static_head.weight"].abs().sum() > 0
    assert grads["backbone.event_head.weight"].abs().sum() > 0
    shared = TransferModel(wrapped(), num_steps=4, head="shared")
    assert shared.backbone.event_head is shared.backbone.static_head


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"classifier": "9"}, r"classifier='9': Sequential has no module at that path; its "),
        ({"classifier": "5"}, "classifier='5' is a LIFNode; name the nn.Linear"),
        ({"classifier": "6", "feature_layer": "7"}, "did not run before the classifier"),
        ({"classifier": "6", "features": "v_seq", "feature_layer": "4"}, "needs a feature_layer"),
    ],
)
def test_wrapping_mistakes_are_named(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        wrap_spikingjelly(small_net(10), 10, **kwargs)(frames())


def test_a_network_that_drops_the_time_steps_is_refused_with_the_reason():
    class MeanOverTime(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(layer.Flatten(), layer.Linear(2 * 34 * 34, 8))
            self.fc = nn.Linear(8, 3)

        def forward(self, x):
            return self.fc(self.body(x).mean(0))

    with pytest.raises(ConfigError, match=r"must keep the time steps up to there"):
        wrap_spikingjelly(MeanOverTime(), 3, classifier="fc")(frames())


def test_a_model_that_breaks_the_contract_is_refused_with_what_is_missing():
    class NoHeads(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(ConfigError, match=r"NoHeads does not follow the SpikingModel contract: "):
        TransferModel(NoHeads(), num_steps=4)
    with pytest.raises(ConfigError, match="no module static_head.*forward takes no head"):
        check_spiking_model(NoHeads())
    check_spiking_model(create_model("tiny", 3))


def settings(cache, **top) -> dict:
    return {
        "epochs": 1,
        "time_steps": 4,
        "seed": 1,
        "data": {
            "options": {"per_class": 10, "cache_dir": str(cache), "progress": False},
            "batch_size": 8,
            "epoch_samples": 16,
        },
        "optim": {"warmup_epochs": 0, "base_lr": 0.05},
        **top,
    }


def test_trainer_and_load_run_take_a_model_instance(tmp_path):
    from snn_transfer.errors import ConfigNote
    from snn_transfer.rundir import load_run
    from snn_transfer.trainer import Trainer

    config = TransferConfig.from_dict(settings(tmp_path / "cache"))
    torch.manual_seed(0)
    out = tmp_path / "run"
    trainer = Trainer(config, out, model=wrapped(feature_layer="5"), progress=False, quiet=True)
    trainer.fit()
    state = torch.load(out / "best.pt", weights_only=True)
    assert state["config"]["model"] == {
        "name": "instance",
        "options": {},
        "bn_running_stats": "event",
        "head": "separate",
    }
    assert state["model_source"]["class"] == "snn_transfer.models.wrap.SpikingJellyModel"
    assert json.loads((out / "meta.json").read_text())["model"] == state["model_source"]
    with pytest.raises(ConfigError, match="trained on a model instance, which no name rebuilds"):
        load_run(out)
    with pytest.raises(ConfigError, match=r"do not fit the model passed"):
        load_run(out, model=wrapped(5))
    run = load_run(out, model=wrapped(feature_layer="5"))
    x = frames()
    trainer.model.eval()
    torch.testing.assert_close(run.model.classify(x), trainer.model.classify(x))
    # resume with the same instance: one more epoch
    more = Trainer.resume(
        out, model=wrapped(feature_layer="5"), overrides=["epochs=2"], progress=False, quiet=True
    )
    assert more.epoch == 1 and more.fit()["epochs_done"] == 2
    # a registered model's name and options are ignored for an instance, with a note
    named = TransferConfig.from_dict(settings(tmp_path / "cache", model={"name": "vggsnn"}))
    with pytest.warns(ConfigNote, match="model.name = 'vggsnn' and model.options are not used"):
        Trainer(named, None, model=wrapped(), progress=False, quiet=True)


def cli(*args, cwd, path, timeout=600):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(map(str, path))}
    return subprocess.run(
        [sys.executable, "-m", "snn_transfer", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def sets(cache) -> list[str]:
    return [
        *("--set", "epochs=1", "--set", "pretrain_epochs=0", "--set", "data.batch_size=8"),
        *("--set", "data.epoch_samples=16", "--set", "data.options.per_class=10"),
        *("--set", f"data.options.cache_dir={cache}", "--no-progress"),
    ]


def test_a_registered_model_of_your_own_works_in_new_processes(tmp_path):
    from snn_transfer.events.datasets import load_dataset
    from snn_transfer.events.io import write_events

    modules = tmp_path / "mine"
    modules.mkdir()
    (modules / "my_nets.py").write_text(USER_MODULE)
    work = tmp_path / "work"  # not the folder of the module: PYTHONPATH finds it
    work.mkdir()
    cache = tmp_path / "cache"
    out = work / "run"
    trained = cli(
        "train", "--recipe", "demo", "--import", "my_nets", "--set", "model.name=my-sj-net",
        "--set", "model.options.width=6", *sets(cache), "--out", str(out),
        cwd=work, path=[modules],
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert "with model 'my-sj-net'" in trained.stdout
    source = torch.load(out / "best.pt", weights_only=True)["model_source"]
    assert source == {
        "name": "my-sj-net",
        "module": "my_nets",
        "class": "snn_transfer.models.wrap.SpikingJellyModel",
    }
    # a new process that does not import the module says which one to import
    missing = cli("eval", str(out), cwd=work, path=[modules])
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert "model='my-sj-net' is unknown" in missing.stderr
    assert "comes from module 'my_nets'" in missing.stderr and "--import my_nets" in missing.stderr
    evaluated = cli("eval", str(out), "--import", "my_nets", cwd=work, path=[modules])
    assert evaluated.returncode == 0, evaluated.stderr
    assert "accuracy" in evaluated.stdout and "net.1" in evaluated.stdout  # firing rates
    data = load_dataset("digits", per_class=10, time_steps=4, cache_dir=cache, progress=False)
    events, _ = data.test.events[int(data.test.indices[0])]
    sample = write_events(work / "sample.h5", events, "hdf5", sensor_size=(34, 34, 2))
    predicted = cli(
        "predict", str(out), str(sample), "--import", "my_nets", cwd=work, path=[modules]
    )
    assert predicted.returncode == 0, predicted.stderr
    assert predicted.stdout.startswith(str(sample))
    exported = cli(
        "export", str(out), "--out", str(work / "m.nir"), "--import", "my_nets",
        cwd=work, path=[modules],
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    assert (work / "m.nir").stat().st_size > 0
    unknown = cli("eval", str(out), "--import", "no_such_module", cwd=work, path=[modules])
    assert unknown.returncode == 1 and "--import no_such_module: No module named" in unknown.stderr


def test_an_entry_point_brings_a_model_without_import(tmp_path):
    site = tmp_path / "site"
    dist = site / "my_models-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-models\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[snn_transfer.models]\nep-net = my_nets:entry_point_net\n"
    )
    (site / "my_nets.py").write_text(USER_MODULE)
    listed = cli("models", cwd=tmp_path, path=[site])
    assert listed.returncode == 0, listed.stderr
    lines = {line.split()[0]: line for line in listed.stdout.splitlines()[1:-1]}
    assert "width=8" in lines["ep-net"] and "[from my_nets]" in lines["ep-net"]
    assert {"tiny", "vggsnn", "resnet18", "scnn"} <= set(lines)
    out = tmp_path / "run"
    trained = cli(
        "train", "--recipe", "demo", "--set", "model.name=ep-net", *sets(tmp_path / "cache"),
        "--out", str(out), cwd=tmp_path, path=[site],
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    evaluated = cli("eval", str(out), cwd=tmp_path, path=[site])
    assert evaluated.returncode == 0, evaluated.stderr


def test_the_registry_refuses_a_second_model_under_a_taken_name():
    from snn_transfer.models import register_model

    def tiny(num_classes):  # another function under a built-in name
        return None

    with pytest.raises(ValueError, match="model 'tiny' is registered twice"):
        register_model("tiny")(tiny)
    with pytest.raises(ValueError, match="'instance' is reserved"):
        register_model("instance")
