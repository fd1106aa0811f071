"""NIR export: BatchNorm folding keeps the output, the chain and its errors, the NIR file."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from spikingjelly.activation_based import functional, layer
from torch import nn

from snn_transfer.checkpoint import save_checkpoint
from snn_transfer.config_loader import to_dict
from snn_transfer.errors import ConfigError, SnnTransferError
from snn_transfer.export import export_graph, export_nir, fold_batchnorm
from snn_transfer.models import SeqBatchNorm2d, TransferModel, create_model
from snn_transfer.run_config import TransferConfig

torch.set_num_threads(1)
HAVE_NIR = all(importlib.util.find_spec(p) is not None for p in ("nir", "nirtorch"))
needs_nir = pytest.mark.skipif(
    not HAVE_NIR, reason='needs nir and nirtorch: pip install "nir>=1.0.7,<2" "nirtorch>=2.6,<2.7"'
)


def randomise_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm statistics and an affine far from the identity."""
    g = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            c = module.num_features
            module.running_mean.copy_(torch.randn(c, generator=g) * 0.5)
            module.running_var.copy_(torch.rand(c, generator=g) * 1.5 + 0.5)
            module.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
            module.bias.data.copy_(torch.randn(c, generator=g) * 0.2)
    return model.eval()


def tiny(**options) -> TransferModel:
    torch.manual_seed(0)
    return randomise_batchnorm(TransferModel(create_model("tiny", 5, **options), num_steps=2))


def frames(size: int = 34, t: int = 2, b: int = 3, dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, 4, (t, b, 2, size, size), generator=g).to(dtype)


@pytest.mark.parametrize("kind", ["BatchNorm2d", "shared", "per_step"])
def test_folding_a_batchnorm_keeps_the_convolutions_output(kind):
    torch.manual_seed(0)
    conv = layer.Conv2d(3, 4, 3, padding=1, bias=kind == "shared", step_mode="m")
    norm = nn.BatchNorm2d(4) if kind == "BatchNorm2d" else SeqBatchNorm2d(4, kind)
    randomise_batchnorm(norm)
    conv, norm = conv.double().eval(), norm.double().eval()
    x = torch.randn(2, 5, 3, 6, 6, dtype=torch.float64)
    folded = fold_batchnorm(conv, norm)
    expected = norm(conv(x)) if kind != "BatchNorm2d" else norm(conv(x).flatten(0, 1))
    got = folded(x) if kind != "BatchNorm2d" else folded(x).flatten(0, 1)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    assert folded.step_mode == "m" and conv.weight.shape == folded.weight.shape
    assert not torch.equal(folded.weight, conv.weight)  # the original is untouched


@pytest.mark.parametrize("bn_mode", ["shared", "per_step"])
def test_the_folded_event_branch_gives_the_models_logits(bn_mode):
    model = tiny(bn_mode=bn_mode).double()
    x = frames(dtype=torch.float64)
    sequential = export_graph(model, x)
    kinds = [type(m).__name__ for m in sequential]
    assert kinds == ["Conv2d", "LIFNode", "AvgPool2d"] * 3 + ["Flatten", "Linear"]
    assert not any(isinstance(m, nn.BatchNorm2d | SeqBatchNorm2d) for m in sequential.modules())
    assert list(dict(sequential.named_children()))[:3] == ["features_0", "features_2", "features_3"]
    rates = []
    sequential.features_10.register_forward_hook(lambda m, a, out: rates.append(out.mean()))
    with torch.no_grad():
        expected = model.classify(x)
        functional.reset_net(sequential)
        got = sequential(x)
    assert got.shape == (2, 3, 5) and rates[0] > 0.05  # the last LIF layer does fire
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9)
    # the event head, not the static one
    assert torch.equal(sequential.event_head.weight, model.backbone.event_head.weight)


def test_layers_nir_cannot_express_are_named():
    with pytest.raises(ConfigError, match=r"backbone\.layers\.0\.1\.bn1 .*not a chain"):
        export_graph(TransferModel(create_model("resnet18", 5), 1).eval(), frames(8, t=1, b=1))
    with pytest.raises(ConfigError, match=r"backbone\.features\.2 \(LIFNode\) resets softly"):
        export_graph(tiny(v_reset=None), frames())
    # 20 -> 10 -> 5: no fixed pooling gives 4x4
    with pytest.raises(ConfigError, match=r"backbone\.pool \(AdaptiveAvgPool2d to 4x4\)"):
        export_graph(tiny(), frames(20))
    # the shared SCNN head is the event head; no BatchNorm to fold
    scnn = TransferModel(create_model("scnn", 5), 2).eval()
    kinds = [type(m).__name__ for m in export_graph(scnn, frames(28))]
    assert kinds[-4:] == ["Flatten", "Linear", "LIFNode", "Linear"]


@pytest.fixture
def run_dir(tmp_path):
    """A run directory with a tiny model whose BatchNorm statistics are far from identity."""
    config = TransferConfig.from_dict({"time_steps": 2, "epochs": 1})
    model = tiny()
    state = {
        "config": to_dict(config),
        "classes": [str(i) for i in range(5)],
        "framing": None,
        "model": model.state_dict(),
        "epoch": 1,
        "result": {},
    }
    save_checkpoint(tmp_path / "run" / "best.pt", state)
    return tmp_path / "run"


def test_missing_nir_packages_say_how_to_install(run_dir, tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "nir" else real(name, *a)
    )
    with pytest.raises(SnnTransferError, match=r"needs the packages? nir.*pip install \"nir"):
        export_nir(run_dir, tmp_path / "model.nir", input_size=(34, 34))


@needs_nir
def test_export_writes_a_nir_graph_that_runs_like_the_model(run_dir, tmp_path):
    import nir
    from spikingjelly.activation_based.nir_exchange import import_from_nir

    path = export_nir(run_dir, tmp_path / "out" / "model.nir", input_size=(34, 34))
    graph = nir.read(path)
    kinds = sorted(type(node).__name__ for node in graph.nodes.values())
    assert kinds == sorted(
        ["Input", "Output", "Flatten", "Affine"] + ["Conv2d", "LIF", "AvgPool2d"] * 3
    )
    model = tiny()
    folded = fold_batchnorm(model.backbone.features[0], model.backbone.features[1])
    np.testing.assert_allclose(graph.nodes["features_0"].weight, folded.weight.detach().numpy())
    np.testing.assert_allclose(graph.nodes["features_0"].bias, folded.bias.detach().numpy())
    lif = graph.nodes["features_2"]
    assert np.allclose(lif.v_threshold, 0.5) and np.allclose(lif.tau, 2 * 1e-4)
    assert graph.nodes["event_head"].weight.shape == (5, 1024)
    # read back into SpikingJelly, the graph gives the model's logits
    imported = import_from_nir(path, step_mode="m")
    x = frames()
    with torch.no_grad():
        got, _ = imported(x)
        expected = model.classify(x)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
