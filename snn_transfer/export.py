"""Exporting the event branch of a run as a NIR graph (Neuromorphic Intermediate Representation).

:func:`event_branch_chain` runs the backbone once with the event head and records the layers
it executes; they must form a chain (each layer reads the previous layer's output, or a
flattened view of it), which VGGSNN, SCNN and the tiny model are and the residual ResNet18 is
not. The chain then becomes a plain ``nn.Sequential`` that NIR can express:

- every BatchNorm (``nn.BatchNorm2d`` or ``SeqBatchNorm2d``, whose statistics live in its inner
  BatchNorm2d) is folded into the convolution before it, with its running statistics (in
  evaluation both BatchNorm modes normalise with them, so per-step BatchNorm folds too);
- an adaptive average pooling becomes the fixed average pooling it equals at the example's
  size (when the size divides evenly);
- the flattening done inside ``forward_features`` becomes a ``Flatten`` layer;
- only the event head is kept (the static head takes no part in the event branch).

The chain, before folding, is checked to reproduce the backbone's logits; anything NIR cannot
express raises :class:`ConfigError` naming the layer. The graph itself comes from
SpikingJelly's ``nir_exchange.export_to_nir``, which needs the optional packages ``nir`` and
``nirtorch`` (``pip install "nir>=1.0.7,<2" "nirtorch>=2.6,<2.7"``).
"""

from __future__ import annotations

import copy
import importlib.util
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from spikingjelly.activation_based import functional, layer, neuron
from torch import nn

from snn_transfer.errors import ConfigError, SnnTransferError
from snn_transfer.models.norm import SeqBatchNorm2d

NIR_PACKAGES = ("nir", "nirtorch")
INSTALL_HINT = 'pip install "nir>=1.0.7,<2" "nirtorch>=2.6,<2.7"'
_NEURONS = (neuron.IFNode, neuron.LIFNode, neuron.ParametricLIFNode)
_NORMS = (nn.BatchNorm2d, SeqBatchNorm2d)
_SKIPPED = (nn.Identity, nn.Dropout)
_SUPPORTED = "Conv2d (+ BatchNorm2d), Linear, AvgPool2d, AdaptiveAvgPool2d, Flatten, IF/LIF/PLIF"


def fold_batchnorm(conv: nn.Conv2d, norm: nn.Module, name: str = "") -> nn.Conv2d:
    """A copy of ``conv`` whose output equals ``norm(conv(x))`` in evaluation mode.

    ``w' = w * s`` and ``b' = (b - mean) * s + beta`` per output channel, with
    ``s = gamma / sqrt(running_var + eps)``, computed in float64. ``norm`` is an
    ``nn.BatchNorm2d`` or a ``SeqBatchNorm2d``; one without running statistics (it normalises
    with the batch's) cannot be folded: ConfigError naming ``name``.
    """
    bn = norm.bn if isinstance(norm, SeqBatchNorm2d) else norm
    if bn.running_mean is None or bn.running_var is None:
        raise ConfigError(
            f"BatchNorm {name or type(norm).__name__} keeps no running statistics "
            "(track_running_stats=False), so it cannot be folded into a convolution for export"
        )
    if bn.num_features != conv.out_channels:
        raise ConfigError(
            f"BatchNorm {name} has {bn.num_features} channels, the convolution before it "
            f"{conv.out_channels}; they cannot be folded"
        )
    weight = conv.weight.detach().double()
    gamma = (
        bn.weight.detach().double()
        if bn.weight is not None
        else torch.ones_like(weight[:, 0, 0, 0])
    )
    beta = bn.bias.detach().double() if bn.bias is not None else torch.zeros_like(gamma)
    bias = conv.bias.detach().double() if conv.bias is not None else torch.zeros_like(gamma)
    scale = gamma / torch.sqrt(bn.running_var.double() + bn.eps)
    folded = copy.deepcopy(conv)
    folded.weight = nn.Parameter((weight * scale.view(-1, 1, 1, 1)).to(conv.weight.dtype))
    shift = (bias - bn.running_mean.double()) * scale + beta
    folded.bias = nn.Parameter(shift.to(conv.weight.dtype))
    return folded


def _same_data(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether ``a`` holds ``b``'s values in the same order (``b`` itself or a reshaped view)."""
    return (
        a.numel() == b.numel()
        and a.is_contiguous()
        and b.is_contiguous()
        and a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()
        and a.storage_offset() == b.storage_offset()
    )


def _units(backbone: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules to trace: neuron layers and SeqBatchNorm2d as wholes, every other leaf."""
    from snn_transfer.models.neurons import neuron_types

    wholes = (*neuron_types(), SeqBatchNorm2d)
    units: list[tuple[str, nn.Module]] = []
    inside: tuple[str, ...] = ()
    for name, module in backbone.named_modules():
        if inside and name.startswith(inside):
            continue
        if isinstance(module, wholes) or not list(module.children()):
            units.append((name, module))
            inside = (f"{name}.",)
    return units


def event_branch_chain(
    backbone: nn.Module, example: torch.Tensor, prefix: str = ""
) -> list[tuple[str, nn.Module]]:
    """The layers the event branch runs on ``example`` ``[T, B, C, H, W]``, in order, with a
    ``Flatten`` where the backbone flattens and adaptive pooling made fixed.

    Names are the backbone's module names after ``prefix``. Raises ConfigError naming the
    layer where the layers stop forming a chain.
    """
    records: list[tuple[str, nn.Module, torch.Tensor, torch.Tensor]] = []
    hooks = [
        module.register_forward_hook(
            lambda m, args, out, n=prefix + name: records.append((n, m, args[0], out))
        )
        for name, module in _units(backbone)
    ]
    try:
        with torch.no_grad():
            backbone(example, head="event")
    finally:
        for hook in hooks:
            hook.remove()
    chain: list[tuple[str, nn.Module]] = []
    previous, previous_name = example, "the input"
    for name, module, x, out in records:
        if not _same_data(x, previous):
            raise ConfigError(
                f"layer {name} ({type(module).__name__}) does not read the output of "
                f"{previous_name}: the event branch is not a chain of layers (a residual "
                "addition or another operation sits between them), which NIR export needs"
            )
        if x.dim() == 3 < previous.dim() and x.shape[:2] == previous.shape[:2]:
            chain.append((f"{name}_flatten", layer.Flatten(step_mode="m")))
        elif x.shape != previous.shape:
            raise ConfigError(
                f"layer {name} reads {list(x.shape)} reshaped from {list(previous.shape)}; only "
                "flattening [T, B, C, H, W] -> [T, B, F] is exportable"
            )
        if isinstance(module, nn.AdaptiveAvgPool2d):
            module = _fixed_pool(name, module, x)
        if not isinstance(module, _SKIPPED):
            chain.append((name, module))
        previous, previous_name = out, name
    return chain


def _fixed_pool(name: str, pool: nn.AdaptiveAvgPool2d, x: torch.Tensor) -> nn.Module:
    size = tuple(x.shape[-2:])
    wanted = pool.output_size if isinstance(pool.output_size, tuple) else (pool.output_size,) * 2
    out = tuple(s if w is None else w for s, w in zip(size, wanted, strict=True))
    if any(s % o for s, o in zip(size, out, strict=True)):
        raise ConfigError(
            f"layer {name} (AdaptiveAvgPool2d to {out[0]}x{out[1]}) pools a {size[0]}x{size[1]} "
            "input, which is no fixed average pooling, and NIR has no adaptive pooling; use an "
            "input size whose feature map divides evenly"
        )
    kernel = (size[0] // out[0], size[1] // out[1])
    return layer.AvgPool2d(kernel, stride=kernel, step_mode="m")


def _check_layer(name: str, module: nn.Module) -> None:
    if isinstance(module, nn.Conv2d):
        if module.groups != 1 or module.padding_mode != "zeros":
            raise ConfigError(
                f"layer {name}: NIR export supports only ungrouped, zero-padded convolutions"
            )
    elif isinstance(module, nn.AvgPool2d):
        padded = module.padding not in (0, (0, 0)) and not module.count_include_pad
        if module.ceil_mode or module.divisor_override is not None or padded:
            raise ConfigError(
                f"layer {name}: NIR cannot express AvgPool2d with ceil_mode, a divisor "
                "override or padding left out of the count"
            )
    elif isinstance(module, _NEURONS):
        if module.v_reset is None:
            raise ConfigError(
                f"layer {name} ({type(module).__name__}) resets softly (v_reset=None); NIR "
                "neurons reset to a value: train with a hard reset (v_reset=0.0) to export"
            )
    elif not isinstance(module, nn.Linear | nn.Flatten):
        raise ConfigError(
            f"layer {name} ({type(module).__name__}) has no NIR counterpart; exportable: "
            f"{_SUPPORTED}"
        )


def fold_chain(chain: list[tuple[str, nn.Module]]) -> nn.Sequential:
    """The chain as an ``nn.Sequential`` (module names with ``_`` for ``.``), each BatchNorm
    folded into the convolution before it (copies; the model is untouched)."""
    layers: list[tuple[str, nn.Module]] = []
    for name, module in chain:
        if isinstance(module, _NORMS):
            before = layers[-1][1] if layers else None
            if not isinstance(before, nn.Conv2d):
                raise ConfigError(
                    f"BatchNorm {name} does not follow a convolution, so it cannot be folded; "
                    "NIR has no BatchNorm"
                )
            layers[-1] = (layers[-1][0], fold_batchnorm(before, module, name))
            continue
        _check_layer(name, module)
        layers.append((name.removeprefix("backbone.").replace(".", "_"), copy.deepcopy(module)))
    return nn.Sequential(OrderedDict(layers))


def export_graph(model: nn.Module, example: torch.Tensor) -> nn.Sequential:
    """The event branch of ``model`` (a TransferModel or a backbone, put in eval mode) as a
    folded ``nn.Sequential`` in multi-step mode, checked against the model on ``example``
    ``[T, B, C, H, W]``: before folding, its logits ``[T, B, K]`` equal the model's event
    logits."""
    backbone = getattr(model, "backbone", model).eval()
    chain = event_branch_chain(backbone, example, "backbone." if backbone is not model else "")
    unfolded = nn.Sequential(*(m for _, m in chain))
    with torch.no_grad():
        expected = backbone(example, head="event")
        functional.reset_net(unfolded)
        got = unfolded(example)
        functional.reset_net(unfolded)
    if got.shape != expected.shape or not torch.allclose(got, expected, rtol=1e-5, atol=1e-5):
        raise SnnTransferError(
            f"the layers of {type(backbone).__name__} do not reproduce its logits (it computes "
            "something outside its layers), so it cannot be exported layer by layer"
        )
    return fold_chain(chain).eval()


def _require_nir() -> None:
    missing = [p for p in NIR_PACKAGES if importlib.util.find_spec(p) is None]
    if missing:
        raise SnnTransferError(
            f"NIR export needs the package{'s' if len(missing) > 1 else ''} "
            f"{' and '.join(missing)}, which {'are' if len(missing) > 1 else 'is'} not "
            f"installed: {INSTALL_HINT}"
        )


def export_nir(
    run_dir: str | Path,
    out_file: str | Path,
    *,
    checkpoint: str = "best",
    input_size: tuple[int, int] | None = None,
    dt: float = 1e-4,
    model: nn.Module | None = None,
) -> Path:
    """Write the event branch of a run as a NIR graph (HDF5) to ``out_file``.

    ``input_size`` ``(H, W)`` of the frames; by default the run's stored framing gives it (or
    else the dataset of the run's config, loaded to read it). ``dt`` is the time step in seconds that NIR's neuron time constants are
    expressed in (SpikingJelly's default). ``model`` is passed to ``load_run`` (the network
    of a run trained on a model instance). Returns the path written.
    """
    from snn_transfer.run_config import TransferConfig
    from snn_transfer.rundir import load_run

    run = load_run(run_dir, checkpoint=checkpoint, model=model)
    config = TransferConfig.from_dict(run.state["config"])
    channels = getattr(run.model.backbone, "in_channels", 2)
    if input_size is None:
        input_size = _frame_size(config, run.framing)
    example = _example(config.time_steps, channels, input_size)
    sequential = export_graph(run.model, example)
    _require_nir()
    from spikingjelly.activation_based.nir_exchange import export_to_nir

    functional.set_step_mode(sequential, "s")
    functional.reset_net(sequential)
    out = Path(out_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        export_to_nir(sequential, example[0, :1], save_path=out, dt=dt)
    except (NotImplementedError, ValueError) as error:
        raise SnnTransferError(f"NIR export of {run.path} failed: {error}") from None
    return out


def _example(time_steps: int, channels: int, size: tuple[int, int]) -> torch.Tensor:
    """A fixed pseudo-random input ``[T, 1, C, H, W]`` of event-count-like values (0..3)."""
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, 4, (time_steps, 1, channels, *size), generator=generator).float()


def _frame_size(config: Any, framing: Any = None) -> tuple[int, int]:
    """``(H, W)`` of the run's frames: from its stored framing (an empty stream framed), or
    else from its dataset."""
    from snn_transfer.errors import DatasetError
    from snn_transfer.run_config import build_dataset

    if framing is not None:
        import numpy as np

        from snn_transfer.events.core import EVENT_DTYPE

        return tuple(int(n) for n in framing(np.zeros(0, EVENT_DTYPE)).shape[-2:])
    try:
        data = build_dataset(config)
    except DatasetError as error:
        raise ConfigError(
            f"the frame size comes from the run's dataset, which cannot be loaded ({error}); "
            "pass input_size=(H, W)"
        ) from None
    return tuple(data.frame_shape[-2:])
