"""What a recorded dataset is: where its files are, how they are framed, where its images are.

A :class:`RecordedDataset` is the description one dataset module gives (``ncaltech101``,
``nmnist``, ...); the loader (``recorded.loader``) turns it into ``PairedData`` and the
registry entry. :class:`StaticSide` says where the static partner images come from and how
they pair with recordings. :func:`missing_root` is the error of every lister for a missing
or incomplete dataset folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from snn_transfer.errors import DatasetError
from snn_transfer.events.core import SensorSize

DATA_README = "data/README.md"


@dataclass(frozen=True)
class StaticSide:
    """Where a dataset's static partner images come from and how they pair with recordings.

    Attributes:
        what: a short name for messages ("Caltech101 images").
        load: ``load(static_root, event_classes) -> StaticImages``.
        event_key / static_key: twin keys; a recording and an image with the same key show
            the same picture. None: no file-level correspondence (every image may partner).
        twins_only: the pool holds only twins of training recordings (True), or every image
            except the twins of held-out recordings (False).
        order: ``StaticInputSpec.order`` ("resize_first" or "channel_first").
        prepare: optional ``image -> image`` applied before resizing (e.g. padding).
        root_default: the static images live under the event root itself (CEP-DVS).
    """

    what: str
    load: Callable[[Path, tuple[str, ...]], Any]
    event_key: Callable[[str], str] | None = None
    static_key: Callable[[Any, int], str] | None = None
    twins_only: bool = True
    order: str = "resize_first"
    prepare: Callable[[np.ndarray], np.ndarray] | None = None
    root_default: bool = False


@dataclass(frozen=True)
class RecordedDataset:
    """Everything the generic loader needs to know about one recorded dataset.

    ``list_samples(root, **extra)`` lists its recordings (an ``EventFiles``; ``extra`` are
    the dataset's own listing options, with their defaults); ``pipeline(framing, T, size,
    sensor)`` gives the ``FramePipeline`` of the ``framing`` option; ``split_rule`` says in
    words how the official splits are made; ``time_steps``, ``size`` and ``augment`` are the
    defaults of the common options; ``splits`` are the official splits to frame.
    """

    name: str
    summary: str
    layout: str
    list_samples: Callable[..., Any]
    pipeline: Callable[[str, int, tuple[int, int] | None, SensorSize | None], Any]
    split_rule: str
    time_steps: int
    size: int | None
    augment: tuple[str, ...] = ()
    splits: tuple[str, ...] = ("train", "test")
    static: StaticSide | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def has_static(self) -> bool:
        return self.static is not None


def missing_root(desc_name: str, root: Any, layout: str, problem: str) -> DatasetError:
    """The error for a missing or incomplete dataset folder: problem, layout, pointer."""
    return DatasetError(
        f"{desc_name}: {problem}\nexpected layout under root={root}:\n{layout.rstrip()}\n"
        f"nothing is downloaded: get the files as described in {DATA_README} and pass the "
        "folder as root"
    )
