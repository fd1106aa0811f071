"""Test-side writers of the formats the package reads but does not write, in their real
binary layouts (see the reader modules' docstrings; the layouts come from Prophesee's
documentation and OpenEB, jAER and the ST-MNIST files).

The tests cross-check these against the peers where the peers are right: expelliarmus
reads our ``.dat`` and EVT 2.0 files and writes files we read; Tonic's ``read_davis_346``
decodes our DAVIS addresses; the ST-MNIST layout is checked on the real sample.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

AEDAT2_RECORD = np.dtype([("address", ">u4"), ("timestamp", ">u4")])


# --- Prophesee ----------------------------------------------------------------------------


def prophesee_header(lines: list[str]) -> bytes:
    return "".join(f"% {line}\n" for line in lines).encode("ascii")


def write_dat(
    path: Path,
    events: np.ndarray,
    sensor_size: tuple[int, int, int] | None = None,
    *,
    event_type: int = 0x0C,
    header: list[str] | None = None,
) -> None:
    """A Prophesee ``.dat`` file: ``%`` header, type and size bytes, 8-byte records."""
    lines = ["Date 2024-01-01 00:00:00", "Version 2"] if header is None else list(header)
    if sensor_size is not None and header is None:
        lines += [f"Height {sensor_size[1]}", f"Width {sensor_size[0]}"]
    records = np.empty(len(events), dtype=[("t", "<u4"), ("w", "<u4")])
    records["t"] = events["t"] % (1 << 32)
    x, y, p = (events[f].astype(np.uint32) for f in "xyp")
    records["w"] = x | (y << 14) | (p << 28)
    body = records.tobytes()
    kind = bytes([event_type, 8]) if lines else b""
    path.write_bytes(prophesee_header(lines) + kind + body)


def raw_header(encoding: str, sensor_size: tuple[int, int, int] | None) -> list[str]:
    lines = ["date 2024-01-01 00:00:00", f"evt {encoding[-1]}.0"]
    if sensor_size is not None:
        width, height = sensor_size[:2]
        lines += [f"format {encoding.upper()};height={height};width={width}"]
        lines += [f"geometry {width}x{height}"]
    return [*lines, "end"]


def evt2_words(events: np.ndarray) -> np.ndarray:
    """EVT 2.0 words for time-sorted events: a TIME_HIGH whenever ``t >> 6`` changes."""
    t = events["t"].astype(np.int64)
    high = t >> 6
    new_high = np.ones(len(t), bool)
    new_high[1:] = high[1:] != high[:-1]
    count = new_high.astype(np.int64) + 1
    end = np.cumsum(count)
    words = np.empty(int(end[-1]) if len(t) else 0, np.uint32)
    words[end[new_high] - 2] = (0x8 << 28) | (high[new_high] & 0x0FFFFFFF)
    x, y, p = (events[f].astype(np.uint32) for f in "xyp")
    words[end - 1] = (p << 28) | ((t & 0x3F).astype(np.uint32) << 22) | (x << 11) | y
    return words


def evt3_words(events: np.ndarray) -> np.ndarray:
    """EVT 3.0 words for time-sorted events, one ADDR_X per event, preceded by TIME_HIGH,
    TIME_LOW and ADDR_Y words where those change (as a camera writes them, except that a
    camera also sends TIME_HIGH every 4096 us without events)."""
    t = events["t"].astype(np.int64)
    y = events["y"].astype(np.int64)
    n = len(t)
    first = np.zeros(n, bool)
    first[:1] = True
    full_high, low = t >> 12, t & 0xFFF
    new_high = first.copy()
    new_high[1:] = full_high[1:] != full_high[:-1]
    new_low = new_high.copy()
    new_low[1:] |= low[1:] != low[:-1]
    new_y = first.copy()
    new_y[1:] = y[1:] != y[:-1]
    count = new_high.astype(np.int64) + new_low + new_y + 1
    end = np.cumsum(count)
    words = np.empty(int(end[-1]) if n else 0, np.uint16)
    slot = end - count
    words[slot[new_high]] = 0x8000 | (full_high[new_high] & 0xFFF)
    slot = slot + new_high
    words[slot[new_low]] = 0x6000 | low[new_low]
    slot = slot + new_low
    words[slot[new_y]] = y[new_y] & 0x7FF
    x, p = events["x"].astype(np.int64), events["p"].astype(np.int64)
    words[end - 1] = 0x2000 | (p << 11) | x
    return words


def evt3_vector_groups(
    rng: np.random.Generator, groups: int, width: int = 1280, height: int = 720
) -> tuple[np.ndarray, np.ndarray]:
    """``(words, events)``: a random EVT 3.0 stream that uses VECT_BASE_X + VECT_12 and
    VECT_8 words (as cameras do on busy rows) besides ADDR_X, and the events it holds.

    Each group has one time, row and polarity: half are one ADDR_X event, half a vector of
    up to 20 pixels (a VECT_12 then a VECT_8 mask) from a base x. Vectorised, so it also
    writes the benchmark's files of millions of events.
    """
    t = np.sort(rng.integers(0, 2_000_000, groups))
    y = rng.integers(0, height, groups)
    p = rng.integers(0, 2, groups)
    base = rng.integers(0, width - 20, groups)
    vector = rng.random(groups) < 0.5
    mask = np.where(vector, rng.integers(1, 1 << 20, groups), 0)
    first = np.zeros(groups, bool)
    first[:1] = True
    new_high, new_low, new_y = first.copy(), first.copy(), first.copy()
    new_high[1:] = (t[1:] >> 12) != (t[:-1] >> 12)
    new_low[1:] = new_high[1:] | ((t[1:] & 0xFFF) != (t[:-1] & 0xFFF))
    new_y[1:] = y[1:] != y[:-1]
    count = new_high.astype(np.int64) + new_low + new_y + np.where(vector, 3, 1)
    end = np.cumsum(count)
    words = np.empty(int(end[-1]) if groups else 0, np.uint16)
    slot = end - count
    words[slot[new_high]] = 0x8000 | ((t[new_high] >> 12) & 0xFFF)
    slot = slot + new_high
    words[slot[new_low]] = 0x6000 | (t[new_low] & 0xFFF)
    slot = slot + new_low
    words[slot[new_y]] = y[new_y]
    slot = slot + new_y
    single = ~vector
    words[slot[single]] = 0x2000 | (p[single] << 11) | base[single]
    words[slot[vector]] = 0x3000 | (p[vector] << 11) | base[vector]
    words[slot[vector] + 1] = 0x4000 | (mask[vector] & 0xFFF)
    words[slot[vector] + 2] = 0x5000 | (mask[vector] >> 12)
    bits = ((mask[:, None] >> np.arange(20)) & 1).astype(bool)
    bits[single, 0] = True  # the ADDR_X event sits at base
    group, k = np.nonzero(bits)
    events = np.empty(len(group), dtype=[("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i1")])
    events["x"] = base[group] + k
    events["y"] = y[group]
    events["t"] = t[group]
    events["p"] = p[group]
    return words, events


def write_raw(
    path: Path,
    encoding: str,
    events: np.ndarray | None = None,
    sensor_size: tuple[int, int, int] | None = None,
    *,
    words: np.ndarray | None = None,
    header: list[str] | None = None,
) -> None:
    """A ``.raw`` file: ``%`` header, then the EVT words of ``events`` (or ``words``)."""
    if words is None:
        words = evt2_words(events) if encoding == "evt2" else evt3_words(events)
    dtype = "<u4" if encoding == "evt2" else "<u2"
    lines = raw_header(encoding, sensor_size) if header is None else header
    path.write_bytes(prophesee_header(lines) + np.asarray(words).astype(dtype).tobytes())


# --- jAER DAVIS AEDAT 2.0 -----------------------------------------------------------------

DAVIS_HEADER = (
    "#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n"
    "# Data format is int32 address, int32 timestamp (8 bytes total), repeated for each event\r\n"
    "# Timestamps tick is 1 us\r\n# AEChip: eu.seebetter.ini.chips.davis.{chip}\r\n"
)


def davis_addresses(events: np.ndarray, width: int, height: int) -> np.ndarray:
    """jAER DAVIS polarity-event addresses: y (from the bottom) in bits 22-30, x (from the
    right) in bits 12-21, polarity in bit 11."""
    x_raw = width - 1 - events["x"].astype(np.uint32)
    y_raw = height - 1 - events["y"].astype(np.uint32)
    return (y_raw << 22) | (x_raw << 12) | (events["p"].astype(np.uint32) << 11)


def write_davis_aedat2(
    path: Path,
    events: np.ndarray,
    sensor_size: tuple[int, int, int] = (346, 260, 2),
    *,
    chip: str = "Davis346red",
    others: int = 0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """A DAVIS AEDAT 2.0 file of ``events``, with ``others`` APS, IMU and external-input
    records mixed in at random places (at the time of the event they precede). Returns the
    addresses written."""
    address = davis_addresses(events, *sensor_size[:2])
    t = events["t"].astype(np.int64) % (1 << 32)
    if others:
        rng = rng or np.random.default_rng(0)
        kinds = np.array([0x80000000 | 0x00123456 & ~0xC00, 0x80000C00, 0x00000400 | 5 << 12])
        extra = kinds[rng.integers(0, 3, others)].astype(np.uint32)
        where = np.sort(rng.integers(0, len(address) + 1, others))
        extra_t = np.where(where < len(t), t[np.minimum(where, len(t) - 1)], t[-1] if len(t) else 0)
        address = np.insert(address, where, extra)
        t = np.insert(t, where, extra_t)
    records = np.empty(len(address), dtype=AEDAT2_RECORD)
    records["address"] = address
    records["timestamp"] = t
    path.write_bytes(DAVIS_HEADER.format(chip=chip).encode("ascii") + records.tobytes())
    return address


# --- ST-MNIST .mat ------------------------------------------------------------------------


def write_stmnist_mat(path: Path, events: np.ndarray, sensor_size=None) -> None:
    """An ST-MNIST ``.mat``: ``spiketrain`` [101, N], one column per event (taxel
    ``y * 10 + x`` set to +1 for ON, -1 for OFF), the last row the time in seconds."""
    from scipy.io import savemat

    matrix = np.zeros((101, len(events)))
    columns = np.arange(len(events))
    taxel = events["y"].astype(np.int64) * 10 + events["x"]
    matrix[taxel, columns] = np.where(events["p"] > 0, 1.0, -1.0)
    matrix[100] = events["t"] / 1e6
    savemat(path, {"spiketrain": matrix})


READ_ONLY_WRITERS = {
    "prophesee-dat": write_dat,
    "evt2": lambda path, events, size: write_raw(path, "evt2", events, size),
    "evt3": lambda path, events, size: write_raw(path, "evt3", events, size),
    "stmnist-mat": write_stmnist_mat,
}
