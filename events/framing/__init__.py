"""Event streams to frames ``[T, P, H, W]``, one concept per module.

* ``counting``: the core every framing shares: stream validation and event counting.
* ``to_frame``: :class:`ToFrame` (Tonic's four slicing modes, without Tonic's defects) and
  :class:`ExtentFrames` (time bins over each sample's own extent).
* ``reference``: the reference implementation's framings, :class:`PaperFrames` and
  :class:`FrequencyFrames`, for parity runs.
* ``custom``: :class:`CallableFraming` (any picklable callable ``events -> frames`` as a
  fingerprinted framing: a function, Tonic's ``ToFrame``) and :class:`GivenFrames`.
* ``pipeline``: :class:`FramePipeline` (a framing plus deterministic transforms: the value
  that keys the frame cache), the recorded datasets' standard pipelines and
  :func:`user_pipeline` (a callable framing).
* ``augment``: random training augmentation by recipe name or callable (``OnEvents``,
  ``OnFrames``, Tonic's transforms), after the cache or before framing.
* ``chunked``: :func:`frame_file`, framing a file larger than memory chunk by chunk.

Nothing here imports torch at import time (resizing imports it when called).
"""

from __future__ import annotations

from snn_transfer.events.framing.augment import (
    OnEvents,
    OnFrames,
    augment_names,
    augmentations,
)
from snn_transfer.events.framing.chunked import frame_file
from snn_transfer.events.framing.counting import MAX_TIMESTAMP, accumulate, check_stream
from snn_transfer.events.framing.custom import CallableFraming, GivenFrames, describe_callable
from snn_transfer.events.framing.pipeline import (
    FRAMINGS,
    FramePipeline,
    standard_pipeline,
    user_pipeline,
)
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
    "OnEvents",
    "OnFrames",
    "CallableFraming",
    "ExtentFrames",
    "FramePipeline",
    "FrequencyFrames",
    "GivenFrames",
    "PaperFrames",
    "ToFrame",
    "accumulate",
    "augment_names",
    "augmentations",
    "check_stream",
    "describe_callable",
    "frame_bounds",
    "frame_edges",
    "frame_file",
    "paper_frames",
    "standard_pipeline",
    "to_frame",
    "user_pipeline",
]
