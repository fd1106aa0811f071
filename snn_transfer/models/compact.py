"""The compact training path of a ``features`` stack of Conv -> BatchNorm -> LIF blocks.

A backbone's ``features`` (an ``nn.Sequential`` of SpikingJelly ``layer.Conv2d``,
``SeqBatchNorm2d``, LIF layers and 2x2-style ``layer.AvgPool2d``, as ``vggsnn`` and ``tiny``
build it) runs, in training, through the functions of ``compact_ops``: spikes kept as bits
for the backward, BatchNorm and neuron recomputed, per-step BatchNorm as one call. The
modules stay what they are (same parameters, buffers, state dict and checkpoints); only how
the training forward is executed changes, and its results are those of the modules' own
forward (``tests/test_models_compact.py`` compares outputs, gradients and running statistics).

:func:`plan_features` reads the stack once; :func:`compact_applies` says whether this forward
can take the compact path (training with gradients, plain ``BatchNorm2d`` statistics (not
``SyncBatchNorm``), no forward hooks, a neuron with a surrogate the table knows, and not the
fused CuPy neuron on a GPU, which has its own kernel); everything else (evaluation, hooks,
distributed BatchNorm) runs the modules themselves.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from spikingjelly.activation_based.neuron import LIFNode
from torch import nn

from snn_transfer.kernels.lif import use_fused
from snn_transfer.kernels.neuron import FusedLIFNode, surrogate_from_spikingjelly
from snn_transfer.kernels.parameters import LIFParameters, checked
from snn_transfer.models.compact_ops import BatchNormLIF, SpikeConv2d, compute_dtype
from snn_transfer.models.norm import SeqBatchNorm2d


class Block(NamedTuple):
    """One ``[AvgPool2d] -> Conv2d -> [SeqBatchNorm2d] -> LIF`` block of a features stack;
    ``pool`` is the kernel (= stride) of the pooling before the convolution, 0 for none."""

    pool: int
    conv: nn.Conv2d
    norm: SeqBatchNorm2d | None
    neuron: LIFNode
    params: LIFParameters


def _pool_size(module: nn.Module) -> int:
    """The kernel of a plain square average pooling with stride = kernel, else 0."""
    if not isinstance(module, nn.AvgPool2d):
        return 0
    size, stride = module.kernel_size, module.stride
    plain = module.padding in (0, (0, 0)) and not module.ceil_mode
    plain = plain and module.count_include_pad and module.divisor_override is None
    if isinstance(size, tuple):
        size = size[0] if size[0] == size[1] else 0
    if isinstance(stride, tuple):
        stride = stride[0] if stride[0] == stride[1] else -1
    return size if plain and size == stride else 0


def _neuron_params(module: nn.Module) -> LIFParameters | None:
    if type(module) not in (LIFNode, FusedLIFNode) or module.step_mode != "m":
        return None
    try:
        name, alpha = surrogate_from_spikingjelly(module.surrogate_function)
        return checked(
            LIFParameters(
                module.tau,
                module.v_threshold,
                module.v_reset,
                module.decay_input,
                module.detach_reset,
                name,
                alpha,
            )
        )
    except ValueError:
        return None


def plan_features(features: nn.Sequential) -> tuple[Block, ...] | None:
    """The blocks of ``features``, or None if it is not a chain of
    ``[AvgPool2d] Conv2d [SeqBatchNorm2d] LIF`` blocks ending with a LIF layer."""
    modules = list(features)
    blocks, i, pool = [], 0, 0
    while i < len(modules):
        size = _pool_size(modules[i])
        if size:
            if pool:
                return None
            pool, i = size, i + 1
            continue
        conv = modules[i]
        if not isinstance(conv, nn.Conv2d) or conv.padding_mode != "zeros":
            return None
        if isinstance(conv.padding, str):
            return None
        i += 1
        norm = modules[i] if i < len(modules) and isinstance(modules[i], SeqBatchNorm2d) else None
        i += norm is not None
        params = _neuron_params(modules[i]) if i < len(modules) else None
        if params is None:
            return None
        blocks.append(Block(pool, conv, norm, modules[i], params))
        i, pool = i + 1, 0
    return tuple(blocks) if blocks and not pool else None


def _plain_norm(norm: SeqBatchNorm2d | None) -> bool:
    if norm is None:
        return True
    bn = norm.bn
    return (
        type(bn) is nn.BatchNorm2d
        and bn.training
        and bn.affine
        and bn.track_running_stats
        and not bn._forward_hooks
        and not bn._forward_pre_hooks
    )


def compact_applies(features: nn.Sequential, blocks: tuple[Block, ...] | None, x: torch.Tensor):
    """Whether this forward of ``features`` on ``x`` can take the compact path."""
    if blocks is None or not features.training or not torch.is_grad_enabled():
        return False
    for module in features.modules():
        if module._forward_hooks or module._forward_pre_hooks:
            return False
    for block in blocks:
        if not _plain_norm(block.norm):
            return False
        fused = isinstance(block.neuron, FusedLIFNode)
        if fused and use_fused(x, block.neuron.backend):
            return False
    return True


def _update_running_stats(bn: nn.BatchNorm2d, mean: torch.Tensor, var: torch.Tensor, calls: int):
    """Running statistics after ``calls`` BatchNorm calls with these batch statistics
    (``[calls * C]``, in order), as ``calls`` calls of ``bn`` would leave them."""
    with torch.no_grad():
        for call in range(calls):
            bn.num_batches_tracked.add_(1)
            momentum = bn.momentum
            if momentum is None:  # cumulative moving average
                momentum = 1.0 / float(bn.num_batches_tracked)
            part = slice(call * bn.num_features, (call + 1) * bn.num_features)
            bn.running_mean.copy_(momentum * mean[part] + (1 - momentum) * bn.running_mean)
            bn.running_var.copy_(momentum * var[part] + (1 - momentum) * bn.running_var)


def run_compact(
    blocks: tuple[Block, ...], x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``x`` ``[T, B, C, H, W]`` through ``blocks``: ``(spikes [T, B, C', H', W'], v_seq
    [T, B, C', H', W'] of the last block's neuron if it stores it, else None)``."""
    steps, batch = x.shape[:2]
    h = x.transpose(0, 1).reshape(batch * steps, *x.shape[2:])  # batch-major rows
    spiking = False
    v_seq = None
    for block in blocks:
        conv, norm = block.conv, block.norm
        if spiking:
            args = (conv.stride, conv.padding, conv.dilation, conv.groups, compute_dtype(h))
            h = SpikeConv2d.apply(h, conv.weight, conv.bias, block.pool, *args)
        else:
            if block.pool:
                h = F.avg_pool2d(h, block.pool)
            args = (conv.stride, conv.padding, conv.dilation, conv.groups)
            h = F.conv2d(h, conv.weight, conv.bias, *args)
        store = bool(block.neuron.store_v_seq)
        if norm is not None:
            bn = norm.bn
            per_step = norm.mode == "per_step"
            h, v, mean, var = BatchNormLIF.apply(
                h, bn.weight, bn.bias, steps, per_step, bn.eps, block.params, store, True
            )
            _update_running_stats(bn, mean, var, steps if per_step else 1)
        else:
            h, v, *_ = BatchNormLIF.apply(
                h, None, None, steps, False, 0.0, block.params, store, False
            )
        spiking = True
        v_seq = _step_major(v, steps) if store else None
        if store:
            block.neuron.v_seq = v_seq  # where the modules' own forward leaves it
    return _step_major(h, steps), v_seq


def _step_major(rows: torch.Tensor, steps: int) -> torch.Tensor:
    """Batch-major rows ``[B*T, ...]`` as ``[T, B, ...]`` (contiguous)."""
    return rows.view(-1, steps, *rows.shape[1:]).transpose(0, 1).contiguous()
