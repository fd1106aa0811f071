"""Class-matched pairing of event samples with static partners.

For every event sample the transfer method needs a static image of the same class, drawn
uniformly from the static training pool and redrawn every time the sample is used. Classes
are matched by name, never by index arithmetic, and the pool is built so that it cannot hold
an image whose event recording is held out for validation or testing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from snn_transfer.errors import DatasetError
from snn_transfer.events.splits import per_class_fraction


def match_classes(event_classes: Sequence[str], static_classes: Sequence[str]) -> np.ndarray:
    """Map event labels to static labels by class name.

    Returns ``m`` with ``m[event_label] = static_label``. Every event class must exist among
    the static classes; a mismatch is reported in full (missing and unused names).
    """
    position = {name: i for i, name in enumerate(static_classes)}
    missing = [name for name in event_classes if name not in position]
    if missing:
        unused = sorted(set(static_classes) - set(event_classes))
        raise DatasetError(
            f"{len(missing)} event classes have no static images: {missing[:10]}"
            f"{' ...' if len(missing) > 10 else ''}; static classes not used by the events: "
            f"{unused[:10]}{' ...' if len(unused) > 10 else ''}. Check that both sources use "
            "the same class names (folder names) or give the static loader a class mapping."
        )
    return np.array([position[name] for name in event_classes], dtype=np.int64)


class StaticPool:
    """The static images that may be drawn as partners, grouped by event class.

    ``static_labels[i]`` is the static class of candidate ``i`` (an index into the static
    source). ``exclude`` removes candidates (for example the static twins of held-out event
    recordings); ``fraction`` keeps a reproducible share per class, like the paper's
    static-data ablation.
    """

    def __init__(
        self,
        static_labels: np.ndarray,
        event_to_static: np.ndarray,
        *,
        candidates: Iterable[int] | None = None,
        exclude: Iterable[int] = (),
        fraction: float = 1.0,
        seed: int = 0,
    ) -> None:
        static_labels = np.asarray(static_labels)
        pool = np.arange(len(static_labels)) if candidates is None else np.asarray(candidates)
        excluded = np.fromiter(exclude, dtype=np.int64)
        if excluded.size:
            pool = np.setdiff1d(pool, excluded)
        pool = per_class_fraction(pool, static_labels, fraction, seed, key="static_fraction")
        self.indices = pool
        self._by_event_class: list[np.ndarray] = []
        for event_label, static_label in enumerate(np.asarray(event_to_static)):
            members = pool[static_labels[pool] == static_label]
            if members.size == 0:
                raise DatasetError(
                    f"the static pool has no image for event class {event_label} "
                    f"(static class {int(static_label)}); the class folder is empty or all "
                    "its images are held out"
                )
            self._by_event_class.append(members)

    def __len__(self) -> int:
        return len(self.indices)

    def members(self, event_label: int) -> np.ndarray:
        """Static indices that may partner an event sample of ``event_label``."""
        return self._by_event_class[int(event_label)]

    def draw(self, event_label: int, rng: np.random.Generator) -> int:
        members = self._by_event_class[int(event_label)]
        return int(members[rng.integers(len(members))])

    def draw_batch(self, event_labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One partner per label, each uniform over its class's pool. Shape ``[B]``."""
        return np.array([self.draw(y, rng) for y in np.asarray(event_labels)], dtype=np.int64)


class PairedDataset:
    """Yields ``(event_frames, static_frames, label)`` with a fresh class-matched partner.

    ``events`` is any indexable dataset of ``(frames [T, P, H, W], label)``; ``static_input``
    turns a static index into the SNN input ``[T, 2, H, W]``. The partner of sample ``i`` is
    drawn from ``(seed, epoch, i, draw)``, so it is reproducible in any DataLoader worker and
    changes with every epoch. A key may be ``i`` or ``(i, draw)``: samplers that can repeat a
    sample within an epoch pass the draw number to get a fresh partner each time.
    """

    def __init__(
        self,
        events: Any,
        pool: StaticPool,
        static_input: Callable[[int], np.ndarray],
        *,
        seed: int = 0,
    ) -> None:
        self.events = events
        self.pool = pool
        self.static_input = static_input
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.events)

    def partner(self, index: int, label: int, draw: int = 0) -> int:
        rng = np.random.default_rng([self.seed, self.epoch, int(index), int(draw)])
        return self.pool.draw(label, rng)

    def __getitem__(self, key: int | tuple[int, int]):
        index, draw = (key, 0) if np.ndim(key) == 0 else key
        frames, label = self.events[int(index)]
        static = self.static_input(self.partner(int(index), int(label), int(draw)))
        return frames, static, int(label)
