"""Epoch batches split over ranks: each rank's share, disjoint, class-balanced, resumable."""

from __future__ import annotations

import numpy as np
import pytest

from snn_transfer.errors import ConfigError
from snn_transfer.sampler import EpochBatches, epoch_order


def imbalanced_labels() -> np.ndarray:
    # 5 classes with 10, 20, 40, 80 and 160 samples
    return np.repeat(np.arange(5), [10, 20, 40, 80, 160])


def shares(labels, kind, world, *, batch=24, size=None, seed=5, epoch=2, position=0):
    return [
        list(
            EpochBatches(
                labels, kind, seed, epoch, batch, size=size, position=position, rank=r, world=world
            )
        )
        for r in range(world)
    ]


@pytest.mark.parametrize("kind", ["shuffle", "balanced"])
@pytest.mark.parametrize("world", [2, 3, 4])
def test_rank_shares_are_disjoint_and_make_up_the_single_process_epoch(kind, world):
    labels = imbalanced_labels()
    (single,) = shares(labels, kind, 1)
    ranks = shares(labels, kind, world)
    assert all(len(batches) == len(single) == len(labels) // 24 for batches in ranks)
    for step, global_batch in enumerate(single):
        parts = [batches[step] for batches in ranks]
        assert all(len(part) == 24 // world for part in parts)
        keys = [key for part in parts for key in part]
        assert sorted(keys) == sorted(global_batch)  # the same global batch, any world
        assert len(set(keys)) == len(keys)  # no draw on two ranks
        for r, part in enumerate(parts):  # rank r holds global positions r, r + W, ...
            assert part == global_batch[r::world]
    if kind == "shuffle":  # a permutation: each sample on exactly one rank per epoch
        indices = [i for batches in ranks for batch in batches for i, _ in batch]
        assert len(set(indices)) == len(indices) == 24 * (len(labels) // 24)


def test_balanced_shares_keep_the_class_balance():
    labels = imbalanced_labels()
    size, world = 6000, 2
    ranks = shares(labels, "balanced", world, batch=40, size=size)
    for batches in ranks:
        drawn = labels[[i for batch in batches for i, _ in batch]]
        counts = np.bincount(drawn, minlength=5)
        assert counts.sum() == size // world
        # each class 1/5 of the draws (600 expected per rank; 4 sigma is about 80)
        assert np.all(np.abs(counts - size / world / 5) < 80), counts
    # the single-process distribution is heavily imbalanced; the sampler corrects it
    assert np.bincount(labels)[4] / len(labels) > 0.5


def test_shares_resume_from_a_global_position_with_another_world():
    labels = imbalanced_labels()
    (single,) = shares(labels, "balanced", 1)
    resumed = shares(labels, "balanced", 4, position=5 * 24)
    assert [batch for batches in zip(*resumed, strict=True) for batch in batches] == [
        part for batch in single[5:] for part in (batch[r::4] for r in range(4))
    ]
    assert len(resumed[0]) == len(single) - 5


def test_same_order_on_every_rank_and_a_new_one_every_epoch():
    labels = imbalanced_labels()
    assert np.array_equal(
        epoch_order(labels, "balanced", 1, 3), epoch_order(labels, "balanced", 1, 3)
    )
    assert not np.array_equal(
        epoch_order(labels, "balanced", 1, 3), epoch_order(labels, "balanced", 1, 4)
    )


def test_batch_must_split_evenly_over_the_ranks():
    with pytest.raises(ConfigError, match=r"data.batch_size = 10 is not a multiple of the 4 "):
        EpochBatches(imbalanced_labels(), "shuffle", 0, 0, 10, rank=1, world=4)
    assert EpochBatches(imbalanced_labels(), "shuffle", 0, 0, 12, world=4).local_batch_size == 3
    with pytest.raises(ValueError, match="rank 4 of world 4"):
        EpochBatches(imbalanced_labels(), "shuffle", 0, 0, 12, rank=4, world=4)
