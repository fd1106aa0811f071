"""Predicting with a loaded run: event files one by one, and recordings of another sensor.

:func:`predict_files` frames each file with the run's framing and classifies the ones that
could be read; a file that cannot (damaged, or with events outside the sensor) gets an
``error`` naming it instead, and the others are still predicted. :func:`framing_for_sensor`
adapts the run's framing to recordings of a sensor of another size (``--sensor W H``): the
frames are counted on that sensor, then resized to the frame size the model was trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from snn_transfer.errors import ConfigError, SnnTransferError

#: files framed and classified together
BATCH = 32


def framing_for_sensor(framing: Any, sensor: tuple[int, int] | None) -> Any:
    """``framing`` (a run's ``ToFrame`` or ``FramePipeline``) for recordings of a ``(W, H)``
    sensor: the counting uses that sensor and a resize to the trained sensor's size comes
    first among the frame transforms, so the model sees frames of the size it learned.
    ``None`` (or the same sensor) returns ``framing`` unchanged; a framing that sizes each
    recording by its own extent needs no sensor (ConfigError)."""
    if sensor is None:
        return framing
    from snn_transfer.events.framing import FramePipeline, ToFrame
    from snn_transfer.events.transforms import Resize

    width, height = (int(v) for v in sensor)
    if width < 1 or height < 1:
        raise ConfigError(f"--sensor {width} {height}: both sizes must be >= 1")
    pipeline = framing if isinstance(framing, FramePipeline) else FramePipeline(framing)
    counting = pipeline.framing
    if not isinstance(counting, ToFrame):
        raise ConfigError(
            f"--sensor: this run frames with {type(counting).__name__}, which sizes each "
            "recording by its own extent; no sensor size is needed"
        )
    old = tuple(counting.sensor_size)
    if old[:2] == (width, height):
        return framing
    resized = (Resize((int(old[1]), int(old[0])), antialias=True), *pipeline.transforms)
    return FramePipeline(replace(counting, sensor_size=(width, height, old[2])), resized)


def _frames(path: str | Path, framing: Any) -> np.ndarray:
    from snn_transfer.events.io import read_events

    events = read_events(path).events
    return np.asarray(framing(events, path=path), dtype=np.float32)


def _explain(error: Exception, sensor: tuple[int, int] | None) -> str:
    text = str(error)
    if "outside the sensor" in text and sensor is None:
        text += " (recordings of another sensor: pass --sensor W H)"
    return text


def predict_files(
    run: Any, paths: Sequence[str | Path], *, sensor: tuple[int, int] | None = None
) -> list[dict[str, Any]]:
    """One result per path, in order: ``{"path", "label", "class", "confidence"}``, or
    ``{"path", "error"}`` for a file that cannot be framed (the others go on).

    ``run`` is a ``LoadedRun``; ``sensor`` ``(W, H)`` the recordings' sensor when it differs
    from the one the run was trained on.
    """
    if run.framing is None:
        raise SnnTransferError(
            f"{run.path} stored no framing that this snn-transfer can rebuild, so it cannot "
            "frame event files; predict on frames [T, P, H, W] with LoadedRun.predict"
        )
    framing = framing_for_sensor(run.framing, sensor)
    results: list[dict[str, Any]] = [{"path": str(p)} for p in paths]
    pending: list[tuple[int, np.ndarray]] = []

    def flush() -> None:
        if pending:
            predicted = run.predict(np.stack([frames for _, frames in pending]))
            for (i, _), prediction in zip(pending, predicted, strict=True):
                results[i].update(prediction)
            pending.clear()

    for i, path in enumerate(paths):
        try:
            pending.append((i, _frames(path, framing)))
        except (SnnTransferError, OSError, ValueError) as error:
            results[i]["error"] = _explain(error, sensor)
        if len(pending) == BATCH:
            flush()
    flush()
    return results
