"""Splits, fractions and class-matched pairing."""

from __future__ import annotations

import numpy as np
import pytest

from snn_transfer.errors import ConfigError, DatasetError
from snn_transfer.events.pairing import PairedDataset, StaticPool, match_classes
from snn_transfer.events.splits import per_class_fraction, stratified_split


def test_stratified_split_is_disjoint_complete_and_per_class():
    labels = np.repeat(np.arange(4), [10, 20, 5, 40])
    parts = stratified_split(labels, {"train": 0.6, "val": 0.2, "test": 0.2}, seed=3)
    joined = np.concatenate(list(parts.values()))
    assert sorted(joined.tolist()) == list(range(len(labels)))
    for c, n in enumerate([10, 20, 5, 40]):
        counts = [int((labels[p] == c).sum()) for p in parts.values()]
        assert counts == [round(0.6 * n), round(0.8 * n) - round(0.6 * n), n - round(0.8 * n)]
    again = stratified_split(labels, {"train": 0.6, "val": 0.2, "test": 0.2}, seed=3)
    other = stratified_split(labels, {"train": 0.6, "val": 0.2, "test": 0.2}, seed=4)
    assert all(np.array_equal(parts[k], again[k]) for k in parts)
    assert not np.array_equal(parts["train"], other["train"])


def test_split_fractions_must_sum_to_one():
    with pytest.raises(ConfigError, match="sum to 1"):
        stratified_split(np.zeros(5, int), {"train": 0.5, "test": 0.2}, seed=0)


def test_per_class_fraction_nested_and_at_least_one():
    labels = np.repeat(np.arange(3), [30, 3, 100])
    idx = np.arange(len(labels))
    small = per_class_fraction(idx, labels, 0.1, seed=1)
    large = per_class_fraction(idx, labels, 0.5, seed=1)
    assert set(small) <= set(large)
    assert [int((labels[small] == c).sum()) for c in range(3)] == [3, 1, 10]
    assert np.array_equal(per_class_fraction(idx, labels, 1.0, seed=1), idx)
    with pytest.raises(ConfigError, match="event_fraction = 0"):
        per_class_fraction(idx, labels, 0.0, seed=1, key="event_fraction")


def test_match_classes_by_name_and_report_mismatch():
    m = match_classes(["cat", "dog", "bird"], ["bird", "cat", "dog", "fish"])
    assert m.tolist() == [1, 2, 0]
    with pytest.raises(DatasetError, match=r"\['emu'\].*\['bird', 'fish'\]"):
        match_classes(["cat", "dog", "emu"], ["bird", "cat", "dog", "fish"])


class _Events:
    def __init__(self, labels):
        self.labels = labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return np.full((2, 2, 3, 3), i, np.float32), int(self.labels[i])


def test_pairing_never_crosses_classes_nor_draws_held_out_images():
    static_labels = np.repeat(np.arange(3), 10)  # static classes: a, b, c
    event_to_static = match_classes(["c", "a", "b"], ["a", "b", "c"])
    held_out = {0, 1, 10, 25}
    pool = StaticPool(static_labels, event_to_static, exclude=held_out, seed=0)
    events = _Events(np.array([0, 1, 2, 0, 1, 2]))
    data = PairedDataset(events, pool, static_input=lambda i: np.array([i]), seed=7)
    seen = set()
    for epoch in range(30):
        data.set_epoch(epoch)
        for i in range(len(data)):
            frames, static, label = data[i]
            s = int(static[0])
            assert static_labels[s] == event_to_static[label]
            assert s not in held_out
            seen.add(s)
    # every allowed image of the classes is reachable
    assert seen == set(range(30)) - held_out


def test_partners_are_reproducible_and_fresh_per_epoch_and_draw():
    static_labels = np.repeat(np.arange(2), 50)
    pool = StaticPool(static_labels, np.array([0, 1]), seed=0)
    data = PairedDataset(_Events(np.array([0, 1] * 5)), pool, lambda i: np.array([i]), seed=1)
    first = [int(data[i][1][0]) for i in range(10)]
    assert first == [int(data[i][1][0]) for i in range(10)]
    data.set_epoch(1)
    assert first != [int(data[i][1][0]) for i in range(10)]
    assert [int(data[(i, 1)][1][0]) for i in range(10)] != [int(data[i][1][0]) for i in range(10)]


def test_static_fraction_limits_the_pool_per_class():
    static_labels = np.repeat(np.arange(2), [40, 20])
    pool = StaticPool(static_labels, np.array([0, 1]), fraction=0.25, seed=0)
    assert len(pool.members(0)) == 10 and len(pool.members(1)) == 5
    empty = np.repeat(np.arange(2), [4, 0])
    with pytest.raises(DatasetError, match="no image for 1 of 2 event classes: event class 1 "):
        StaticPool(empty, np.array([0, 1]))


def test_match_classes_names_both_sources_and_near_misses():
    with pytest.raises(DatasetError) as caught:
        match_classes(
            ["Faces_easy", "dog", "sea horse"],
            ["faces_easy", "dog", "sea_horse", "zebra"],
            event_source="n-caltech101 at /data/ev",
            static_source="Caltech101 at /data/img",
        )
    message = str(caught.value)
    assert message.startswith(
        "2 of 3 event classes of n-caltech101 at /data/ev have no static images in Caltech101 "
        "at /data/img: ['Faces_easy', 'sea horse']; static classes not used by the events: "
        "['faces_easy', 'sea_horse', 'zebra']."
    )
    assert "Near misses (case or separators differ): 'Faces_easy' ~ 'faces_easy', " in message
    assert "'sea horse' ~ 'sea_horse'." in message


def test_match_classes_refuses_repeated_names():
    with pytest.raises(DatasetError, match=r"the static class names in imgs repeat \['cat'\]"):
        match_classes(["cat", "dog"], ["cat", "dog", "cat"], static_source="imgs")
    with pytest.raises(DatasetError, match=r"the event class names repeat \['a'\]"):
        match_classes(["a", "a"], ["a"])


def test_static_pool_names_every_class_without_images():
    static_labels = np.repeat(np.arange(4), [3, 0, 2, 0])  # static classes 1 and 3 are empty
    with pytest.raises(DatasetError) as caught:
        StaticPool(static_labels, np.array([2, 1, 0, 3]), class_names=["c", "b", "a", "d"])
    assert str(caught.value).startswith(
        "the static pool has no image for 2 of 4 event classes: event class 1 'b' (static "
        "class 1); event class 3 'd' (static class 3); their static class folders are empty"
    )
    # held-out images count as missing too
    with pytest.raises(DatasetError, match=r"event class 0 'c' \(static class 2\)"):
        StaticPool(static_labels, np.array([2]), exclude=[3, 4], class_names=["c"])
