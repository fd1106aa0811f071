"""The event array every part of the package speaks.

Events are numpy structured arrays with Tonic's field names, so Tonic's transforms work on
them too:

========  =======  ==========================================================
field     dtype    meaning
========  =======  ==========================================================
``x``     int16    column, 0 <= x < W
``y``     int16    row, 0 <= y < H
``t``     int64    timestamp in microseconds
``p``     int8     polarity, 0 (OFF) or 1 (ON); always 0 on one-polarity sensors
========  =======  ==========================================================

Signed types on purpose: unsigned coordinates or timestamps wrap silently under jitter or
shifts (Tonic's CIFAR10-DVS arrays are uint16/uint64 and do). A sensor size is ``(W, H, P)``
as in Tonic.
"""

from __future__ import annotations

import numpy as np

from snn_transfer.errors import EventFormatError

EVENT_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i1")])

SensorSize = tuple[int, int, int]


def make_events(x, y, t, p) -> np.ndarray:
    """Build an event array (``EVENT_DTYPE``) from four equal-length sequences."""
    x = np.asarray(x)
    n = len(x)
    for name, values in (("y", y), ("t", t), ("p", p)):
        if len(values) != n:
            raise EventFormatError(f"field {name!r} has {len(values)} values, x has {n}")
    events = np.empty(n, dtype=EVENT_DTYPE)
    events["x"] = x
    events["y"] = y
    events["t"] = t
    events["p"] = p
    return events


def as_events(array: np.ndarray) -> np.ndarray:
    """Return ``array`` as ``EVENT_DTYPE``, converting any structured array with x, y, t, p.

    Boolean or {-1, 1} polarities become {0, 1}. The input is never modified.
    """
    names = getattr(array.dtype, "names", None) or ()
    missing = [f for f in "xytp" if f not in names]
    if missing:
        raise EventFormatError(
            f"not an event array: fields {missing} missing (expected x, y, t, p); "
            "build one with snn_transfer.events.make_events"
        )
    if array.dtype == EVENT_DTYPE:
        return array
    p = np.asarray(array["p"])
    if p.dtype != np.bool_ and p.size and p.min() < 0:
        p = p > 0
    return make_events(array["x"], array["y"], array["t"], p)


def validate_events(
    events: np.ndarray,
    sensor_size: SensorSize | None = None,
    *,
    sorted_time: bool = True,
    path: object | None = None,
) -> None:
    """Raise ``EventFormatError`` if events fall outside the sensor or go back in time.

    Cheap: a handful of vectorised reductions, no copies of the whole stream beyond one
    boolean mask when the order is checked.
    """
    if len(events) == 0:
        return
    checks = [("x", events["x"]), ("y", events["y"]), ("p", events["p"])]
    limits = (None, None, None) if sensor_size is None else sensor_size
    for (name, values), limit in zip(checks, limits, strict=True):
        # the message shows the first offending event, the one the index points at
        if int(values.min()) < 0:
            index = int(np.argmax(values < 0))
            raise EventFormatError(f"negative {name} = {values[index]}", path=path, index=index)
        if limit is not None and int(values.max()) >= limit:
            index = int(np.argmax(values >= limit))
            what = "polarity" if name == "p" else "coordinate"
            raise EventFormatError(
                f"{what} {name} = {values[index]} outside the sensor ({name} < {limit} for sensor "
                f"size {tuple(sensor_size)} as (W, H, P)); pass the right sensor_size "
                "or crop the events",
                path=path,
                index=index,
            )
    if sorted_time:
        t = events["t"]
        if t[0] < 0:
            raise EventFormatError(f"negative timestamp {int(t[0])}", path=path, index=0)
        back = np.flatnonzero(t[1:] < t[:-1])
        if back.size:
            i = int(back[0]) + 1
            raise EventFormatError(
                f"timestamp goes back in time ({int(t[i - 1])} -> {int(t[i])} us); "
                "sort the events by t first (np.sort(events, order='t', kind='stable'))",
                path=path,
                index=i,
            )
