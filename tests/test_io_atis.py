"""ATIS 40-bit .bin: round trips, equality with Tonic, overflow markers, chunks, damage."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import sample_file
from test_io_fakes import random_events

from snn_transfer.errors import EventFormatError
from snn_transfer.events.core import EVENT_DTYPE
from snn_transfer.events.io import (
    EventFileNotFoundError,
    encode_atis,
    iter_atis,
    read_atis,
    write_atis,
)
from snn_transfer.events.io.atis import OVERFLOW_Y, TIME_PERIOD

TONIC_NMNIST_DTYPE = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])


def raw_records(*rows: tuple[int, int, int, int]) -> bytes:
    """Hand-encode (x, y, t, p) rows as ATIS records, independently of our writer."""
    out = bytearray()
    for x, y, t, p in rows:
        out += bytes([x, y, (p << 7) | ((t >> 16) & 0x7F), (t >> 8) & 0xFF, t & 0xFF])
    return bytes(out)


def assert_fields_equal(ours: np.ndarray, theirs: np.ndarray) -> None:
    assert len(ours) == len(theirs)
    for field in "xytp":
        np.testing.assert_array_equal(ours[field].astype(np.int64), theirs[field].astype(np.int64))


def test_round_trip(tmp_path, rng):
    events = random_events(rng, 3000, (34, 34, 2), t_max=TIME_PERIOD - 1)
    path = tmp_path / "a.bin"
    write_atis(path, events)
    assert path.stat().st_size == 5 * 3000
    recording = read_atis(path)
    assert recording.events.dtype == EVENT_DTYPE
    assert recording.sensor_size is None and recording.format == "atis"
    np.testing.assert_array_equal(recording.events, events)


def test_hand_encoded_records_decode_to_their_fields(tmp_path):
    path = tmp_path / "hand.bin"
    path.write_bytes(raw_records((7, 15, 654, 1), (255, 0, 0x7FFFFF, 0), (0, 239, 0x7FFFFF, 1)))
    events = read_atis(path).events
    assert events.tolist() == [(7, 15, 654, 1), (255, 0, 8388607, 0), (0, 239, 8388607, 1)]


@pytest.mark.parametrize("dtype", [EVENT_DTYPE, TONIC_NMNIST_DTYPE], ids=["ours", "nmnist"])
def test_equals_tonic_read_mnist_file(tmp_path, rng, dtype):
    tonic_io = pytest.importorskip("tonic.io")
    events = random_events(rng, 2000, (240, 180, 2), t_max=TIME_PERIOD - 1)
    path = tmp_path / "b.bin"
    write_atis(path, events)
    assert_fields_equal(read_atis(path).events, tonic_io.read_mnist_file(str(path), dtype=dtype))


def test_real_nmnist_sample_equals_tonic():
    tonic_io = pytest.importorskip("tonic.io")
    path = sample_file("sample_nmnist.bin")
    recording = read_atis(path, sensor_size=(34, 34, 2))
    theirs = tonic_io.read_mnist_file(str(path), dtype=TONIC_NMNIST_DTYPE)
    assert_fields_equal(recording.events, theirs)
    events = recording.events
    assert len(events) == 4325
    assert events[0].tolist() == (7, 15, 654, 1)
    assert int(events["t"][-1]) == 311175
    # real quirks: no overflow markers, time-sorted with some equal timestamps
    raw = np.fromfile(path, np.uint8).reshape(-1, 5)
    assert not np.any(raw[:, 1] == OVERFLOW_Y)
    assert np.all(np.diff(events["t"]) >= 0) and np.any(np.diff(events["t"]) == 0)


def test_overflow_marker_adds_the_counter_period(tmp_path):
    path = tmp_path / "wrap.bin"
    marker = (0, OVERFLOW_Y, 0, 0)
    path.write_bytes(
        raw_records((1, 2, 8_388_000, 1), marker, (3, 4, 100, 0), marker, (5, 6, 50, 1))
    )
    events = read_atis(path).events
    assert events["t"].tolist() == [8_388_000, TIME_PERIOD + 100, 2 * TIME_PERIOD + 50]
    assert events["x"].tolist() == [1, 3, 5] and events["y"].tolist() == [2, 4, 6]


def test_tonic_adds_2_pow_13_per_marker_and_goes_back_in_time(tmp_path):
    tonic_io = pytest.importorskip("tonic.io")
    path = tmp_path / "wrap.bin"
    path.write_bytes(raw_records((1, 2, 8_388_000, 1), (0, OVERFLOW_Y, 0, 0), (3, 4, 100, 0)))
    theirs = tonic_io.read_mnist_file(str(path), dtype=TONIC_NMNIST_DTYPE)
    assert theirs["t"].tolist() == [8_388_000, 100 + 2**13]  # backwards: why we differ
    assert read_atis(path).events["t"].tolist() == [8_388_000, 100 + 2**23]


def test_writer_inserts_markers_for_long_recordings(tmp_path, rng):
    events = random_events(rng, 500, (34, 34, 2), t_max=5 * TIME_PERIOD)
    records = encode_atis(events)
    periods = int(events["t"][-1]) // TIME_PERIOD
    assert int(np.count_nonzero(records[:, 1] == OVERFLOW_Y)) == periods
    path = tmp_path / "long.bin"
    write_atis(path, events)
    np.testing.assert_array_equal(read_atis(path).events, events)


@pytest.mark.parametrize("chunk", [1, 7, 64, 10_000])
def test_chunks_equal_the_full_read_across_markers(tmp_path, rng, chunk):
    events = random_events(rng, 700, (34, 34, 2), t_max=3 * TIME_PERIOD)
    path = tmp_path / "c.bin"
    write_atis(path, events)
    chunks = list(iter_atis(path, chunk))
    assert all(0 < len(c) <= chunk for c in chunks)
    np.testing.assert_array_equal(np.concatenate(chunks), read_atis(path).events)


def test_empty_file_is_an_empty_stream(tmp_path):
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")
    assert len(read_atis(path).events) == 0
    assert list(iter_atis(path, 10)) == []


def test_truncated_file_names_the_offset(tmp_path, rng):
    path = tmp_path / "t.bin"
    write_atis(path, random_events(rng, 10, (34, 34, 2)))
    path.write_bytes(path.read_bytes()[:-2])
    for attempt in (lambda: read_atis(path), lambda: list(iter_atis(path, 4))):
        with pytest.raises(EventFormatError) as info:
            attempt()
        message = str(info.value)
        assert str(path) in message and "byte 45" in message and "truncated" in message
        assert info.value.offset == 45


def test_decreasing_timestamp_names_byte_and_event(tmp_path):
    path = tmp_path / "back.bin"
    path.write_bytes(raw_records((1, 1, 10, 0), (1, 1, 20, 0), (1, 1, 15, 0)))
    with pytest.raises(EventFormatError) as info:
        read_atis(path)
    assert "byte 10" in str(info.value) and "event 2" in str(info.value)
    assert "20 -> 15" in str(info.value)
    with pytest.raises(EventFormatError, match="event 2"):
        list(iter_atis(path, 2))  # the decrease lies across a chunk border


def test_decrease_after_a_marker_reports_the_record_offset(tmp_path):
    path = tmp_path / "back2.bin"
    path.write_bytes(raw_records((1, 1, 10, 0), (0, OVERFLOW_Y, 0, 0), (1, 1, 5, 0), (1, 1, 4, 0)))
    with pytest.raises(EventFormatError) as info:
        read_atis(path)
    assert info.value.index == 2 and info.value.offset == 15


def test_coordinates_outside_the_given_sensor(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(raw_records((1, 1, 10, 0), (40, 1, 20, 1)))
    assert len(read_atis(path).events) == 2  # no sensor declared: accepted
    with pytest.raises(EventFormatError) as info:
        read_atis(path, sensor_size=(34, 34, 2))
    assert "x = 40 outside the sensor" in str(info.value) and info.value.index == 1
    assert info.value.offset == 5


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        read_atis(tmp_path / "nope.bin")
    assert isinstance(info.value, EventFileNotFoundError | EventFormatError)
    assert "nope.bin" in str(info.value)
    with pytest.raises(EventFormatError, match="not a regular file"):
        read_atis(tmp_path)


def test_writer_rejects_what_the_format_cannot_hold(tmp_path):
    from snn_transfer.events.core import make_events

    with pytest.raises(EventFormatError, match="overflow marker"):
        write_atis(tmp_path / "m.bin", make_events([1], [240], [0], [0]))
    with pytest.raises(EventFormatError, match="below 256"):
        write_atis(tmp_path / "w.bin", make_events([300], [1], [0], [0]))
    with pytest.raises(EventFormatError, match="back in time"):
        write_atis(tmp_path / "u.bin", make_events([1, 1], [1, 1], [5, 4], [0, 0]))
    assert not list(tmp_path.iterdir())  # nothing half-written, no .partial left


# --- the block decoder of whole files (read_atis) against the general one ---------------------


def test_blocks_equal_the_general_decoder(tmp_path, rng):
    from snn_transfer.events.io.atis import BLOCK_RECORDS, decode_atis

    n = 2 * BLOCK_RECORDS + 123
    events = random_events(rng, n, (240, 180, 2), t_max=TIME_PERIOD - 1)
    path = tmp_path / "blocks.bin"
    write_atis(path, events)
    general, _ = decode_atis(np.fromfile(path, np.uint8))
    for size in (None, (240, 180, 2)):
        np.testing.assert_array_equal(read_atis(path, sensor_size=size).events, general)
    np.testing.assert_array_equal(general, events)


@pytest.mark.parametrize("at", ["border", "inside"])
@pytest.mark.parametrize("size", [None, (34, 34, 2)], ids=["no-sensor", "sensor"])
def test_decrease_in_a_later_block_names_byte_and_event(tmp_path, at, size):
    from snn_transfer.events.io.atis import BLOCK_RECORDS

    n = BLOCK_RECORDS + 50
    t = np.arange(n) + 1000
    bad = BLOCK_RECORDS if at == "border" else BLOCK_RECORDS + 7
    t[bad] = t[bad - 1] - 5
    path = tmp_path / "back.bin"
    path.write_bytes(raw_records(*((i % 34, i % 30, int(t[i]), i % 2) for i in range(n))))
    with pytest.raises(EventFormatError, match="goes back in time") as info:
        read_atis(path, sensor_size=size)
    assert info.value.index == bad and info.value.offset == 5 * bad


def test_coordinate_outside_the_sensor_in_a_later_block(tmp_path):
    from snn_transfer.events.io.atis import BLOCK_RECORDS

    n = BLOCK_RECORDS + 10
    rows = [(i % 34, i % 30, i, 0) for i in range(n)]
    rows[BLOCK_RECORDS + 3] = (40, 1, BLOCK_RECORDS + 3, 1)
    path = tmp_path / "wide.bin"
    path.write_bytes(raw_records(*rows))
    with pytest.raises(EventFormatError, match="x = 40 outside the sensor") as info:
        read_atis(path, sensor_size=(34, 34, 2))
    assert info.value.index == BLOCK_RECORDS + 3 and info.value.offset == 5 * (BLOCK_RECORDS + 3)
    assert len(read_atis(path).events) == n


def test_rows_past_the_marker_row_are_events(tmp_path):
    # y 241..255 is no overflow marker (only 240 is): such records are events, as in Tonic
    path = tmp_path / "rows.bin"
    path.write_bytes(raw_records((1, 239, 5, 0), (2, 250, 6, 1), (3, 255, 7, 0)))
    assert read_atis(path).events.tolist() == [(1, 239, 5, 0), (2, 250, 6, 1), (3, 255, 7, 0)]
    with pytest.raises(EventFormatError, match="y = 250 outside the sensor") as info:
        read_atis(path, sensor_size=(240, 240, 2))
    assert info.value.index == 1


def test_on_events_on_a_one_polarity_sensor_are_refused(tmp_path):
    path = tmp_path / "on.bin"
    path.write_bytes(raw_records((1, 1, 5, 0), (2, 2, 6, 1)))
    with pytest.raises(EventFormatError, match="polarity p = 1 outside the sensor") as info:
        read_atis(path, sensor_size=(34, 34, 1))
    assert info.value.index == 1


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path):
    import os
    import threading

    fifo = tmp_path / "pipe.bin"
    os.mkfifo(fifo)
    errors: list[Exception] = []

    def read() -> None:
        try:
            read_atis(fifo)
        except EventFormatError as error:
            errors.append(error)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive():  # unblock it before failing
        with open(fifo, "wb"):
            pass
        pytest.fail("read_atis waited for a writer on a named pipe")
    assert len(errors) == 1 and "not a regular file" in str(errors[0])


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ((33, 33, 999, 1), None),  # the sensor's last row and column
        ((5, 34, 999, 1), "y = 34 outside the sensor"),
        ((34, 5, 999, 0), "x = 34 outside the sensor"),
        ((5, 5, (1 << 23) - 1, 1), None),  # the largest 23-bit timestamp, p = 1 beside it
    ],
)
def test_single_block_checks_at_the_sensor_edge(tmp_path, row, problem):
    # a file of N-MNIST's size is decoded in one block: y is checked on the packed top byte
    rows = [(i % 34, (i * 7) % 34, i, i % 2) for i in range(100)] + [row]
    path = tmp_path / "edge.bin"
    path.write_bytes(raw_records(*rows))
    if problem is None:
        assert read_atis(path, sensor_size=(34, 34, 2)).events.tolist() == rows
        return
    with pytest.raises(EventFormatError, match=problem) as info:
        read_atis(path, sensor_size=(34, 34, 2))
    assert info.value.index == 100 and info.value.offset == 500
    assert read_atis(path).events.tolist() == rows  # without a sensor size it is an event


def test_single_block_with_a_marker_equals_tonic(tmp_path):
    tonic_io = pytest.importorskip("tonic.io")
    rows = [(1, 2, 10, 1), (3, 4, 20, 0), (0, OVERFLOW_Y, 0, 0), (5, 6, 5, 1)]
    path = tmp_path / "marker.bin"
    path.write_bytes(raw_records(*rows))
    ours = read_atis(path).events
    assert ours.tolist() == [(1, 2, 10, 1), (3, 4, 20, 0), (5, 6, TIME_PERIOD + 5, 1)]
    theirs = tonic_io.read_mnist_file(str(path), dtype=EVENT_DTYPE)
    # Tonic adds 2**13 per marker (see atis.py): equal but for that timestamp
    assert theirs["t"].tolist() == [10, 20, 5 + 2**13]
    for field in "xyp":
        np.testing.assert_array_equal(ours[field], theirs[field])


# --- the compiled decoder (numba) against the numpy one it replaces ---------------------------


@pytest.mark.parametrize("size", [None, (34, 34, 2), (240, 180, 2)], ids=["none", "34", "240"])
def test_compiled_and_numpy_decoders_agree(rng, size):
    from snn_transfer.events.io.atis import (
        BLOCK_RECORDS,
        _compiled_decoder,
        _decode_clean,
        _decode_fast,
    )

    assert _compiled_decoder() is not None, "numba is a dependency: the compiled path runs"
    cases = []
    for n in (0, 1, 4325, BLOCK_RECORDS + 77):
        events = random_events(rng, n, (34, 34, 2), t_max=TIME_PERIOD - 1)
        cases.append(encode_atis(events).reshape(-1))
    clean = cases[2]
    for column, value in ((0, 40), (0, 255), (1, 34), (1, OVERFLOW_Y), (1, 250)):
        damaged = clean.copy().reshape(-1, 5)
        damaged[3000, column] = value
        cases.append(damaged.reshape(-1))
    back = clean.copy().reshape(-1, 5)
    back[[2000, 2001]] = back[[2001, 2000]]  # swap two records: time goes back once
    cases.append(back.reshape(-1))
    outcomes = set()
    for raw in cases:
        raw = np.frombuffer(raw.tobytes(), np.uint8)  # read-only, as read_bytes returns it
        ours, numpy_only = _decode_fast(raw, size), _decode_clean(raw, size)
        assert (ours is None) == (numpy_only is None)
        if ours is not None:
            np.testing.assert_array_equal(ours, numpy_only)
        outcomes.add(ours is None)
    assert outcomes == {True, False}  # both the clean and the refused cases were seen


def test_read_atis_without_numba_gives_the_same_events_and_errors(tmp_path, rng, monkeypatch):
    from snn_transfer.events.io import atis

    events = random_events(rng, 4325, (34, 34, 2), t_max=TIME_PERIOD - 1)
    path = tmp_path / "a.bin"
    write_atis(path, events)
    compiled = read_atis(path, sensor_size=(34, 34, 2)).events
    monkeypatch.setattr(atis, "_compiled_decoder", lambda: None)
    np.testing.assert_array_equal(read_atis(path, sensor_size=(34, 34, 2)).events, compiled)
    np.testing.assert_array_equal(compiled, events)
    with pytest.raises(EventFormatError, match="outside the sensor"):
        read_atis(path, sensor_size=(20, 20, 2))
