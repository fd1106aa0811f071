"""Training on several processes with PyTorch's distributed engine (torchrun + DDP).

``torchrun --nproc_per_node N -m snn_transfer train ...`` starts N copies of the trainer and
describes the group in the environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``, ``MASTER_PORT``). :func:`setup` joins that group (NCCL on GPUs, gloo on
CPUs) and picks this process's device (``cuda:LOCAL_RANK``); without those variables, or
with ``WORLD_SIZE=1``, everything here is a no-op and training runs in one process.

How the pieces fit (see ``snn_transfer.trainer``):

* The configured batch is global. Every rank computes the same epoch order and takes every
  ``world``-th key of each global batch (``EpochBatches``), so rank ``r`` holds global batch
  positions ``r, r + W, r + 2W, ...``; :func:`gather_batch` puts gathered tensors back into
  the global order.
* Cross-entropy terms are means over each rank's equal share; DDP averages gradients over
  ranks, which gives the gradient of the mean over the global batch. Alignment computed on
  gathered features is the same value on every rank; ``all_gather``'s backward sums the
  rank's slice of every rank's gradient (W times the true one) and DDP's average divides by
  W again, so no extra scaling is needed.
* Slow one-off work (building a frame cache) runs rank by rank (:func:`in_rank_order`) with
  barriers on a gloo group whose timeout allows it.
* Neuron state (SpikingJelly memories) is not a module buffer: each rank keeps its own and
  the model resets it around every forward. BatchNorm without ``sync_bn`` normalises each
  rank's share with that share's statistics (``batch / world`` samples), so with BatchNorm a
  run on W processes is not the single-process run (without BatchNorm it is, up to float
  rounding); ``sync_bn`` (GPUs) computes the statistics over the global batch.
"""

from __future__ import annotations

import gc
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from snn_transfer.errors import ConfigError

T = TypeVar("T")

#: barriers around one-off work (cache building, a rank evaluating a large split) may wait long
SLOW_TIMEOUT = timedelta(hours=6)
_SLOW_GROUP: Any = None
_OWNED = False


@dataclass(frozen=True)
class Context:
    """This process's place in the group: ``rank`` of ``world``, ``local_rank`` on its machine."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def local_batch(self, batch_size: int) -> int:
        """This rank's share of the global ``batch_size``, which must split evenly."""
        if batch_size % self.world:
            raise ConfigError(
                f"data.batch_size = {batch_size} is not a multiple of the {self.world} "
                f"processes; the batch is global (each process takes batch_size / "
                f"{self.world}): choose a multiple of {self.world}"
            )
        return batch_size // self.world


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name} = {raw!r} must be an integer") from None


def env_world() -> int:
    """``WORLD_SIZE`` as torchrun sets it (1 when absent)."""
    return _env_int("WORLD_SIZE", 1)


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    """This process's rank: from the process group, or from ``RANK`` before it exists."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return _env_int("RANK", 0)


def is_main() -> bool:
    """True on the process that writes logs, metrics and checkpoints (rank 0)."""
    return rank() == 0


def resolve_device(name: str, local_rank: int, world: int) -> torch.device:
    """The device of this process: ``auto`` and ``cuda`` mean ``cuda:LOCAL_RANK`` when CUDA
    is there (``auto`` falls back to the CPU); an explicit index is refused with several
    processes, since each takes the GPU of its local rank."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type != "cuda" or world == 1:
        return device
    if device.index is not None:
        raise ConfigError(
            f"device = {name!r} with {world} processes: set device=cuda (or auto); each "
            "process takes the GPU of its LOCAL_RANK"
        )
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise ConfigError(
            f"LOCAL_RANK {local_rank} but this machine has {count} GPUs; start at most "
            f"{count} processes per machine (--nproc_per_node)"
        )
    return torch.device("cuda", local_rank)


def setup(device: str = "auto") -> Context:
    """Join the process group torchrun describes (or use the one already initialised) and
    return this process's :class:`Context`. One process without torchrun: ``world = 1``."""
    global _SLOW_GROUP, _OWNED
    initialised = dist.is_available() and dist.is_initialized()
    world = dist.get_world_size() if initialised else env_world()
    local_rank = _env_int("LOCAL_RANK", dist.get_rank() if initialised else 0)
    resolved = resolve_device(device, local_rank, world)
    if world == 1:
        return Context(device=resolved)
    if resolved.type == "cuda":
        torch.cuda.set_device(resolved)
    if not initialised:
        missing = [k for k in ("MASTER_ADDR", "MASTER_PORT", "RANK") if k not in os.environ]
        if missing:
            raise ConfigError(
                f"WORLD_SIZE = {world} but {', '.join(missing)} is not set; launch with "
                "torchrun (it sets them) or set WORLD_SIZE=1"
            )
        backend = "nccl" if resolved.type == "cuda" else "gloo"
        dist.init_process_group(backend, device_id=resolved if backend == "nccl" else None)
        _OWNED = True
    if _SLOW_GROUP is None:
        _SLOW_GROUP = dist.new_group(backend="gloo", timeout=SLOW_TIMEOUT)
    return Context(dist.get_rank(), dist.get_world_size(), local_rank, resolved)


def cleanup() -> None:
    """Leave the process group :func:`setup` created, at the successful end of training
    (idempotent; the CLI calls it, a script that builds a ``Trainer`` under torchrun should
    too, after dropping its trainer).

    Unreachable DDP reducers and autograd graphs still hold the group's work: they are
    collected and every rank waits for the others before the group is destroyed, or gloo's
    threads can abort the process at exit. Not for error paths: a rank that failed must not
    wait for ranks that are blocked in a collective (torchrun stops them).
    """
    global _SLOW_GROUP, _OWNED
    if _OWNED and dist.is_available() and dist.is_initialized():
        gc.collect()
        dist.barrier(group=_SLOW_GROUP)
        dist.destroy_process_group()
    _SLOW_GROUP, _OWNED = None, False


def slow_barrier() -> None:
    """Wait for every rank, with a timeout that allows hours of one-off work."""
    if is_distributed():
        dist.barrier(group=_SLOW_GROUP)


def in_rank_order(work: Callable[[], T]) -> T:
    """Run ``work`` on rank 0, then on the first process of each other machine, then on the
    rest: what the first writes (frame caches, emulated event files) the others only read,
    whether the cache folder is shared between machines or local to each."""
    if not is_distributed():
        return work()
    local = _env_int("LOCAL_RANK", rank())
    result: Any = None
    for turn in (rank() == 0, rank() != 0 and local == 0, local != 0):
        if turn:
            result = work()
        slow_barrier()
    return result


def gather_batch(x: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Every rank's share of the global batch along ``dim``, with gradients, in global order.

    Rank ``r`` holds global positions ``r, r + W, ...`` (see ``EpochBatches``); the result
    is what one process would hold for the whole batch (``[T, b, D]`` -> ``[T, b * W, D]``).
    The backward pass sends each rank the gradient of its own slice, summed over ranks.
    """
    if not is_distributed():
        return x
    from torch.distributed.nn.functional import all_gather

    with warnings.catch_warnings():
        # deprecated in favour of a private module; it is the public all_gather with autograd
        warnings.filterwarnings("ignore", "torch.distributed.nn.functional", FutureWarning)
        parts = all_gather(x.contiguous())
    return torch.stack(parts, dim=dim + 1).flatten(dim, dim + 1)


def mean_over_ranks(x: torch.Tensor) -> torch.Tensor:
    """The average of ``x`` over ranks (a new tensor; no gradient)."""
    if not is_distributed():
        return x
    x = x.detach().clone()
    dist.all_reduce(x)
    return x / dist.get_world_size()


def gather_objects(value: Any) -> list[Any]:
    """Every rank's ``value`` (picklable), in rank order, on every rank."""
    if not is_distributed():
        return [value]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, value, group=_SLOW_GROUP)
    return out


def average_buffers(module: nn.Module) -> None:
    """Make buffers equal on all ranks: floating ones (BatchNorm running statistics)
    averaged, the others (counters) taken from rank 0."""
    if not is_distributed():
        return
    world = dist.get_world_size()
    for buffer in module.buffers():
        if buffer.is_floating_point():
            dist.all_reduce(buffer)
            buffer.div_(world)
        else:
            dist.broadcast(buffer, 0)


def has_batchnorm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def prepare_model(model: nn.Module, context: Context, *, sync_bn: bool) -> nn.Module:
    """``model`` with its BatchNorm layers synchronised over ranks when asked (GPU only)."""
    if not (context.distributed and sync_bn and has_batchnorm(model)):
        return model
    if context.device.type != "cuda":
        raise ConfigError(
            "sync_bn = true needs GPUs (SyncBatchNorm does not run on the CPU); set "
            "sync_bn=false: each process then normalises with its own batch statistics"
        )
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)


def wrap(module: nn.Module, context: Context, *, find_unused: bool = False) -> nn.Module:
    """DistributedDataParallel around ``module`` with several processes, else ``module``.

    The transfer model freezes or leaves out what a configuration does not use (the static
    head of the baseline, STR coefficients without learned STR, the domain classifier
    outside ``dann``), so every trainable parameter gets a gradient at every step and DDP
    runs without ``find_unused_parameters`` (``find_unused`` turns it on for configurations
    whose phases leave parameters unused, such as static pretraining before the transfer,
    when the static head and STR coefficients wait). Buffers are not broadcast before each forward:
    without SyncBatchNorm each rank's BatchNorm running statistics follow its own shares,
    and the trainer averages them over ranks before every evaluation (:func:`average_buffers`).
    """
    if not context.distributed:
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [context.device.index] if context.device.type == "cuda" else None
    return DistributedDataParallel(
        module, device_ids=ids, broadcast_buffers=False, find_unused_parameters=find_unused
    )
