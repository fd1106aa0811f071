"""Event streams to frames ``[T, P, H, W]``, one concept per module.

* ``counting``: the core every framing shares: stream validation and event counting.
* ``to_frame``: :class:`ToFrame` (Tonic's four slicing modes, without Tonic's defects) and
  :class:`ExtentFrames` (time bins over each sample's own extent).
* ``reference``: the reference implementation's framings, :class:`PaperFrames` and
  :class:`FrequencyFrames`, for parity runs.
* ``pipeline``: :class:`FramePipeline` (a framing plus deterministic transforms: the value
  that keys the frame cache) and the recorded datasets' standard pipelines.
* ``augment``: random training augmentation by recipe name (after the cache).
* ``chunked``: :func:`frame_file`, framing a file larger than memory chunk by chunk.

Nothing here imports torch at import time (resizing imports it when called).
"""

from __future__ import annotations

from snn_transfer.events.framing.augment import augment_names, augmentations
from snn_transfer.events.framing.chunked import frame_file
from snn_transfer.events.framing.counting import MAX_TIMESTAMP, accumulate, check_stream
from snn_transfer.events.framing.pipeline import FRAMINGS, FramePipeline, standard_pipeline
from snn_transfer.events.framing.reference import FrequencyFrames, PaperFrames, paper_frames
from snn_transfer.events.framing.to_frame import (
    MAX_FRAME_BYTES,
    ExtentFrames,
    ToFrame,
    frame_bounds,
    frame_edges,
    to_frame,
)

__all__ = [
    "FRAMINGS",
    "MAX_FRAME_BYTES",
    "MAX_TIMESTAMP",
    "ExtentFrames",
    "FramePipeline",
    "FrequencyFrames",
    "PaperFrames",
    "ToFrame",
    "accumulate",
    "augment_names",
    "augmentations",
    "check_stream",
    "frame_bounds",
    "frame_edges",
    "frame_file",
    "paper_frames",
    "standard_pipeline",
    "to_frame",
]
