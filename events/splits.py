"""Reproducible per-class splits and fractions of labelled samples.

Everything here works on integer label arrays and returns sorted index arrays, so a split
depends only on the labels, the order of the samples (which loaders sort by file name) and
the seed, never on the file system's listing order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from snn_transfer.errors import ConfigError
from snn_transfer.events.checks import fraction as check_fraction


def _class_indices(labels: np.ndarray) -> dict[int, np.ndarray]:
    labels = np.asarray(labels)
    return {int(c): np.flatnonzero(labels == c) for c in np.unique(labels)}


def stratified_split(
    labels: np.ndarray, fractions: Mapping[str, float], seed: int
) -> dict[str, np.ndarray]:
    """Split sample indices per class into named parts with the given fractions.

    ``fractions`` maps part names to shares that sum to 1 (for example
    ``{"train": 0.6, "val": 0.2, "test": 0.2}``). Within each class the samples are shuffled
    with ``seed`` and cut by rounded cumulative shares, so every class contributes to every
    part in proportion. Returns sorted index arrays.
    """
    names = list(fractions)
    shares = np.array([fractions[n] for n in names], dtype=float)
    if (shares < 0).any() or not np.isclose(shares.sum(), 1.0):
        raise ConfigError(
            f"split fractions {dict(fractions)} must be >= 0 and sum to 1; adjust the values"
        )
    parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
    rng = np.random.default_rng(seed)
    cumulative = np.cumsum(shares)
    for _, members in sorted(_class_indices(labels).items()):
        shuffled = members[rng.permutation(len(members))]
        cuts = np.round(cumulative * len(members)).astype(int)
        start = 0
        for name, stop in zip(names, cuts, strict=True):
            parts[name].append(shuffled[start:stop])
            start = stop
    return {n: np.sort(np.concatenate(p)) if p else np.zeros(0, int) for n, p in parts.items()}


def per_class_fraction(
    indices: np.ndarray, labels: np.ndarray, fraction: float, seed: int, *, key: str = "fraction"
) -> np.ndarray:
    """A reproducible ``fraction`` of ``indices`` per class (at least one sample per class).

    ``labels`` is indexed by the entries of ``indices``. Smaller fractions with the same seed
    give subsets of larger ones, so a fraction sweep adds data rather than swapping it.
    """
    fraction = check_fraction(key, fraction, interval="(0, 1]")
    indices = np.asarray(indices)
    if fraction == 1.0:
        return np.sort(indices)
    rng = np.random.default_rng(seed)
    kept = []
    for _, members in sorted(_class_indices(np.asarray(labels)[indices]).items()):
        order = indices[members][rng.permutation(len(members))]
        kept.append(order[: max(1, int(round(fraction * len(members))))])
    return np.sort(np.concatenate(kept)) if kept else np.zeros(0, int)


def per_class_count(
    indices: np.ndarray, labels: np.ndarray, count: int, seed: int, *, key: str = "shots"
) -> np.ndarray:
    """``count`` reproducibly drawn ``indices`` per class (all of a class that has fewer).

    The draw is the one of :func:`per_class_fraction` with the same seed (a seeded
    permutation per class, its first entries kept), so smaller counts give subsets of larger
    ones: a sweep over k labelled recordings per class adds recordings rather than swapping
    them.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConfigError(f"{key} = {count!r} must be an integer >= 1 (recordings per class)")
    indices = np.asarray(indices)
    rng = np.random.default_rng(seed)
    kept = []
    for _, members in sorted(_class_indices(np.asarray(labels)[indices]).items()):
        order = indices[members][rng.permutation(len(members))]
        kept.append(order[:count])
    return np.sort(np.concatenate(kept)) if kept else np.zeros(0, int)


def per_class_parts(
    labels: Sequence[int] | np.ndarray,
    sizes: Callable[[int], Sequence[int]],
    names: Sequence[str],
    *,
    rng: np.random.Generator | None = None,
) -> list[str]:
    """The part of every sample, cut per class: the members of a class of ``n`` samples, in
    their order (or permuted by ``rng``, one permutation per class in label order), are cut
    into consecutive runs of ``sizes(n)`` samples named ``names[0], names[1], ...``; the
    rest go to ``names[-1]``. For example the first ``round(0.9 n)`` recordings of each class
    for training: ``per_class_parts(labels, lambda n: [round(0.9 * n)], ("train", "test"))``.
    """
    labels = np.asarray(labels)
    parts = [names[-1]] * len(labels)
    for _, members in sorted(_class_indices(labels).items()):
        if rng is not None:
            members = members[rng.permutation(len(members))]
        start = 0
        for name, size in zip(names, sizes(len(members)), strict=False):
            for i in members[start : start + size]:
                parts[int(i)] = name
            start += size
    return parts


def validation_split(labels: np.ndarray, fraction: float, seed: int):
    """Per class, ``max(1, round(fraction * n))`` seeded random samples for validation, but
    always at least one left for training (none for a class with a single sample); returns
    sorted ``(train, val)`` index arrays."""

    def sizes(n: int) -> list[int]:
        n_val = 0 if n < 2 else max(1, round(fraction * n))
        return [min(n_val, n - 1)]  # round(0.75 * 2) = 2 would leave none

    parts = np.asarray(
        per_class_parts(labels, sizes, ("val", "train"), rng=np.random.default_rng([seed, 7]))
    )
    return np.flatnonzero(parts == "train"), np.flatnonzero(parts == "val")
