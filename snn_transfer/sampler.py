"""Epoch orders that depend only on (seed, epoch), so a run can stop and resume anywhere.

The sampler yields keys ``(index, draw)``: ``draw`` is the position in the epoch, so a sample
drawn twice (class-balanced sampling with replacement) gets a fresh static partner each time.
Its state is ``(epoch, position)`` plus the seed: nothing per worker or per rank, so a
checkpoint can be resumed with another number of processes.

Distributed training needs no sampler of its own: every rank computes the same global order
(shuffled or class-balanced) and keeps its share of each global batch. The ranks' shares are
disjoint (as draws: a balanced epoch may draw an index twice, as one process would), their
union is exactly the single-process epoch, so the per-epoch distribution, the class balance
and the static partner of each draw are those of one process.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from snn_transfer.errors import ConfigError

SAMPLERS = ("shuffle", "balanced")


def epoch_order(
    labels: np.ndarray, kind: str, seed: int, epoch: int, size: int | None = None
) -> np.ndarray:
    """Sample indices of one epoch, ``[size]`` (``size`` defaults to the number of samples).

    ``shuffle``: permutations (as many as needed, concatenated and cut to ``size``).
    ``balanced``: ``size`` draws with replacement, each class with equal total probability
    (weights ``1 / n_class``), like the reference's sampler.
    """
    labels = np.asarray(labels)
    n = len(labels)
    size = n if not size else int(size)
    rng = np.random.default_rng([int(seed), int(epoch), 7])
    if kind == "shuffle":
        rounds = -(-size // n)
        return np.concatenate([rng.permutation(n) for _ in range(rounds)])[:size]
    if kind == "balanced":
        counts = np.bincount(labels)
        weights = 1.0 / counts[labels]
        return rng.choice(n, size=size, replace=True, p=weights / weights.sum())
    raise ConfigError(f"data.sampler = {kind!r}; choose one of {SAMPLERS}")


class EpochBatches:
    """Batches of ``(index, draw)`` keys for one epoch, from ``position`` on.

    ``batch_size`` is the global batch. With ``world > 1`` each rank takes every
    ``world``-th key of each global batch (``batch_size / world`` keys, from position
    ``rank``), so the global batch is the same for any number of ranks; ``batch_size`` must
    be a multiple of ``world``. ``position`` counts keys of the global order.
    """

    def __init__(
        self,
        labels: np.ndarray,
        kind: str,
        seed: int,
        epoch: int,
        batch_size: int,
        *,
        size: int | None = None,
        position: int = 0,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        self.order = epoch_order(labels, kind, seed, epoch, size)
        self.batch_size = batch_size
        self.position = position
        if world < 1 or not 0 <= rank < world:
            raise ValueError(f"rank {rank} of world {world} is not a valid process")
        if batch_size % world:
            raise ConfigError(
                f"data.batch_size = {batch_size} is not a multiple of the {world} processes; "
                f"the batch is global (each process takes batch_size / {world}), so choose "
                f"e.g. data.batch_size={max(world, batch_size - batch_size % world)}"
            )
        self.rank, self.world = rank, world
        if batch_size > len(self.order):
            raise ConfigError(
                f"data.batch_size = {batch_size} is larger than the training split "
                f"({len(self.order)} samples); lower the batch size"
            )

    @property
    def local_batch_size(self) -> int:
        """Keys per batch on this rank."""
        return self.batch_size // self.world

    def __len__(self) -> int:
        return (len(self.order) - self.position) // self.batch_size

    def __iter__(self):
        for start in range(self.position, len(self.order) - self.batch_size + 1, self.batch_size):
            keys = [(int(self.order[i]), i) for i in range(start, start + self.batch_size)]
            yield keys[self.rank :: self.world]

    @staticmethod
    def batches_per_epoch(n: int, batch_size: int) -> int:
        return n // batch_size


class KeyedSplit:
    """Baseline samples addressed by ``(index, draw)`` keys like the paired dataset."""

    def __init__(self, split: Any) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        return self.split[key[0]]


def epoch_loader(
    split: Any,
    paired: Any | None,
    *,
    kind: str,
    seed: int,
    epoch: int,
    batch_size: int,
    size: int,
    position: int,
    rank: int,
    world: int,
    workers: int,
) -> Any:
    """The DataLoader of one training epoch (from ``position`` on), this rank's share.

    ``split`` is the training split (``EventFrames``); ``paired``, when given, its paired
    dataset (static partners), else the split alone is served by ``(index, draw)`` keys.
    Both are set to ``epoch`` (augmentation and partners are drawn per epoch).
    """
    import torch

    from snn_transfer.sample_errors import NamedSamples

    if paired is None:
        dataset = KeyedSplit(split)
    else:
        paired.set_epoch(epoch)
        dataset = paired
    split.set_epoch(epoch)
    batches = EpochBatches(
        split.labels,
        kind,
        seed,
        epoch,
        batch_size,
        size=size,
        position=position,
        rank=rank,
        world=world,
    )
    return torch.utils.data.DataLoader(
        NamedSamples(dataset, split), batch_sampler=batches, num_workers=workers
    )
