"""One-screen summaries of event files, for ``snn-events info``."""

from __future__ import annotations

import numpy as np

from snn_transfer.events.io import hdf5
from snn_transfer.events.io.base import PathLike, check_readable
from snn_transfer.events.io.formats import DEFAULT_CHUNK_SIZE, format_of


def _stream_summary(chunks) -> dict:
    """Count, time span, ON share and coordinate extent of a stream, one chunk at a time."""
    count = on = 0
    first = last = None
    max_x = max_y = -1
    for chunk in chunks:
        if not len(chunk):
            continue
        count += len(chunk)
        on += int(np.count_nonzero(chunk["p"] == 1))
        first = int(chunk["t"][0]) if first is None else first
        last = int(chunk["t"][-1])
        max_x = max(max_x, int(chunk["x"].max()))
        max_y = max(max_y, int(chunk["y"].max()))
    return {
        "events": count,
        "duration_s": 0.0 if count == 0 else (last - first) / 1e6,
        "on_share": None if count == 0 else round(on / count, 4),
        "t_first_us": first,
        "t_last_us": last,
        "extent": None if count == 0 else f"x 0..{max_x}, y 0..{max_y}",
    }


def _describe_hdf5_other(path, kind: str) -> dict:
    """Summary of an HDF5 file that is not a single stream (no events are read)."""
    with hdf5.open_hdf5(path) as file, hdf5.hdf5_errors(path):
        info: dict = {"format": f"hdf5 ({kind})", "sensor_size": hdf5.sensor_attr(file, path)}
        if kind == hdf5.KIND_EVENT_DATASET:
            info["samples"] = int(file["labels"].shape[0]) if "labels" in file else None
            info["classes"] = int(file["classes"].shape[0]) if "classes" in file else None
            info["events"] = int(file["t"].shape[0]) if "t" in file else None
        elif "frames" in file:
            frames = file["frames"]
            info["samples"] = int(frames.shape[0])
            info["frame_shape"] = tuple(int(s) for s in frames.shape[1:])
            info["dtype"] = str(frames.dtype)
        info["source"] = hdf5.text_attr(file.attrs.get("source", "")) or None
    return info


def describe(path: PathLike, format: str | None = None) -> dict:
    """Summarise an event file (streaming through it, so memory stays bounded).

    Returns:
        dict with ``format``, ``sensor_size`` ((W, H, P) or None when the format declares
        none), ``events`` (count), ``duration_s`` (last minus first timestamp, seconds),
        ``on_share`` (fraction of events with p == 1), ``t_first_us``, ``t_last_us`` and
        ``extent`` (coordinate ranges seen). HDF5 files of kind ``event-dataset`` and
        ``frames`` get sample counts and shapes instead.

    Raises:
        EventFileNotFoundError / EventFormatError as ``read_events``.
    """
    path = check_readable(path)
    fmt = format_of(path, format)
    if fmt.name == "hdf5":
        with hdf5.open_hdf5(path) as file, hdf5.hdf5_errors(path):
            kind = hdf5.file_kind(file, path)
        if kind != hdf5.KIND_EVENTS:
            return _describe_hdf5_other(path, kind)
    summary = _stream_summary(fmt.iterate(path, DEFAULT_CHUNK_SIZE))
    return {"format": fmt.name, "sensor_size": fmt.declared_sensor(path), **summary}
