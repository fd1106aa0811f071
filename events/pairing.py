"""Class-matched pairing of event samples with static partners.

For every event sample the transfer method needs a static image of the same class, drawn
uniformly from the static training pool and redrawn every time the sample is used. Classes
are matched by name, never by index arithmetic, and the pool is built so that it cannot hold
an image whose event recording is held out for validation or testing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from snn_transfer.errors import DatasetError
from snn_transfer.events.splits import per_class_fraction


def match_classes(
    event_classes: Sequence[str],
    static_classes: Sequence[str],
    *,
    event_source: str | None = None,
    static_source: str | None = None,
) -> np.ndarray:
    """Map event labels to static labels by class name.

    Returns ``m`` with ``m[event_label] = static_label``. Every event class must exist among
    the static classes, and neither list may repeat a name. A mismatch is reported in full:
    the event classes without static images, the static classes no event class uses, names
    that differ only in case or separators, and where each list comes from
    (``event_source``, ``static_source``: a folder or a description, for the message).
    """
    events_from = f" of {event_source}" if event_source else ""
    static_from = f" in {static_source}" if static_source else ""
    for what, names, source in (
        ("event", event_classes, events_from),
        ("static", static_classes, static_from),
    ):
        repeated = sorted(n for n, k in Counter(names).items() if k > 1)
        if repeated:
            raise DatasetError(
                f"the {what} class names{source} repeat {_shown(repeated)}: each class needs "
                "one unique name to be matched by"
            )
    position = {name: i for i, name in enumerate(static_classes)}
    missing = [name for name in event_classes if name not in position]
    if missing:
        unused = sorted(set(static_classes) - set(event_classes))
        near = _near_misses(missing, unused)
        raise DatasetError(
            f"{len(missing)} of {len(event_classes)} event classes{events_from} have no static "
            f"images{static_from}: {_shown(missing)}; static classes not used by the events: "
            f"{_shown(unused)}.{near} Check that both sources use the same class names (folder "
            "names) or give the static loader a class mapping."
        )
    return np.array([position[name] for name in event_classes], dtype=np.int64)


def _shown(names: Sequence[str], limit: int = 10) -> str:
    return f"{list(names[:limit])}{' ...' if len(names) > limit else ''}"


def _near_misses(missing: Sequence[str], unused: Sequence[str]) -> str:
    """`` Near misses: 'Cat' ~ 'cat'.`` for names equal up to case and ``-``/space/``_``."""

    def canonical(name: str) -> str:
        return name.casefold().replace("-", "_").replace(" ", "_")

    spare = {canonical(u): u for u in unused}
    pairs = [f"{m!r} ~ {spare[canonical(m)]!r}" for m in missing if canonical(m) in spare]
    return f" Near misses (case or separators differ): {', '.join(pairs[:10])}." if pairs else ""


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
        class_names: Sequence[str] | None = None,
    ) -> None:
        static_labels = np.asarray(static_labels)
        pool = np.arange(len(static_labels)) if candidates is None else np.asarray(candidates)
        excluded = np.fromiter(exclude, dtype=np.int64)
        if excluded.size:
            pool = np.setdiff1d(pool, excluded)
        pool = per_class_fraction(pool, static_labels, fraction, seed, key="static_fraction")
        self.indices = pool
        self._by_event_class: list[np.ndarray] = []
        empty = []
        for event_label, static_label in enumerate(np.asarray(event_to_static)):
            members = pool[static_labels[pool] == static_label]
            if members.size == 0:
                name = "" if class_names is None else f" {class_names[event_label]!r}"
                empty.append(f"event class {event_label}{name} (static class {int(static_label)})")
            self._by_event_class.append(members)
        if empty:
            raise DatasetError(
                f"the static pool has no image for {len(empty)} of {len(self._by_event_class)} "
                f"event classes: {'; '.join(empty[:10])}{' ...' if len(empty) > 10 else ''}; "
                "their static class folders are empty, or all their images are held out (twins "
                "of validation or test recordings) or dropped by static_fraction"
            )

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
