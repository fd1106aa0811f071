"""AEDAT4: our hand-written files read back by aedat and Tonic, the real sample, damage."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from conftest import sample_file
from test_io_fakes import random_events

from snn_transfer.errors import EventFormatError
from snn_transfer.events.core import EVENT_DTYPE, make_events
from snn_transfer.events.io import iter_aedat4, read_aedat4, read_aedat4_header, write_aedat4
from snn_transfer.events.io.aedat4_layout import (
    MAGIC,
    PACKET_HEADER,
    description_xml,
    event_packet_bytes,
    ioheader_bytes,
)

aedat = pytest.importorskip("aedat")


def assert_same_as_aedat_records(ours: np.ndarray, theirs: np.ndarray) -> None:
    """Compare with aedat's (t u8, x u2, y u2, on bool) records, field by field."""
    assert len(ours) == len(theirs)
    np.testing.assert_array_equal(ours["t"], theirs["t"].astype(np.int64))
    np.testing.assert_array_equal(ours["x"], theirs["x"].astype(np.int64))
    np.testing.assert_array_equal(ours["y"], theirs["y"].astype(np.int64))
    np.testing.assert_array_equal(ours["p"], theirs["p"].astype(np.int8))


def handmade_file(path, packets, description=None, sensor=(128, 128)) -> None:
    """An AEDAT4 file from raw packet payloads, bypassing the writer's checks."""
    header = ioheader_bytes(description or description_xml(*sensor))
    body = b"".join(PACKET_HEADER.pack(0, len(p)) + p for p in packets)
    path.write_bytes(MAGIC + struct.pack("<I", len(header)) + header + body)


@pytest.fixture
def fake(tmp_path, rng):
    events = random_events(rng, 10_000, (128, 128, 2))
    path = tmp_path / "fake.aedat4"
    write_aedat4(path, events, (128, 128, 2), packet_events=3000)
    return path, events


def test_round_trip_in_several_packets(fake):
    path, events = fake
    header, packets = read_aedat4_header(path)
    assert header.compression == "none" and header.file_data_position == -1
    assert header.streams == {0: "EVTS"} and header.sensor_size == (128, 128, 2)
    assert [p.stream_id for p in packets] == [0, 0, 0, 0]
    recording = read_aedat4(path)
    assert recording.events.dtype == EVENT_DTYPE and recording.sensor_size == (128, 128, 2)
    np.testing.assert_array_equal(recording.events, events)


def test_aedat_decodes_our_file_exactly(fake):
    path, events = fake
    decoder = aedat.Decoder(str(path))
    assert decoder.id_to_stream() == {0: {"type": "events", "width": 128, "height": 128}}
    packets = [packet["events"] for packet in decoder]
    assert [len(p) for p in packets] == [3000, 3000, 3000, 1000]
    assert_same_as_aedat_records(events, np.concatenate(packets))


def test_tonic_read_aedat4_reads_our_file_exactly(fake):
    tonic_io = pytest.importorskip("tonic.io")
    path, events = fake
    assert_same_as_aedat_records(events, tonic_io.read_aedat4(str(path)))


def test_real_lz4_sample_equals_tonic_and_aedat():
    tonic_io = pytest.importorskip("tonic.io")
    path = sample_file("sample.aedat4")
    recording = read_aedat4(path)
    theirs = tonic_io.read_aedat4(str(path))
    assert_same_as_aedat_records(recording.events, theirs)
    assert len(recording.events) == 111_954
    header, packets = read_aedat4_header(path)
    assert header.compression == "lz4"
    assert header.streams == {0: "EVTS", 2: "IMUS", 3: "TRIG"}
    # the sensor size comes from the header; aedat exposes the same as width/height
    streams = aedat.Decoder(str(path)).id_to_stream()
    assert streams[0] == {"type": "events", "width": 320, "height": 240}
    assert recording.sensor_size == (320, 240, 2)
    # packets stop at file_data_position (a table of contents follows)
    assert header.file_data_position == 945_243 < path.stat().st_size
    assert packets[-1].offset + 8 + packets[-1].size == header.file_data_position
    t = recording.events["t"]
    assert int(t[0]) == 1_605_537_493_718_345 and np.all(np.diff(t) >= 0)


@pytest.mark.parametrize("chunk", [1000, 4096, 1 << 20])
def test_chunks_equal_the_full_read(fake, chunk):
    path, events = fake
    chunks = list(iter_aedat4(path, chunk))
    assert all(0 < len(c) <= chunk for c in chunks)
    np.testing.assert_array_equal(np.concatenate(chunks), events)


def test_real_sample_chunks_equal_the_full_read():
    path = sample_file("sample.aedat4")
    chunks = list(iter_aedat4(path, 25_000))
    assert [len(c) for c in chunks[:-1]] == [25_000] * 4
    np.testing.assert_array_equal(np.concatenate(chunks), read_aedat4(path).events)


def test_header_without_packets_is_an_empty_stream(tmp_path):
    path = tmp_path / "empty.aedat4"
    write_aedat4(path, np.empty(0, EVENT_DTYPE), (64, 48, 2))
    recording = read_aedat4(path)
    assert len(recording.events) == 0 and recording.sensor_size == (64, 48, 2)


def test_empty_file_and_wrong_magic(tmp_path):
    path = tmp_path / "x.aedat4"
    path.write_bytes(b"")
    with pytest.raises(EventFormatError, match="not an AEDAT4 file: .*file is empty") as info:
        read_aedat4(path)
    assert info.value.offset == 0 and str(path) in str(info.value)
    path.write_bytes(b"#!AER-DAT3.1\r\n" + bytes(100))
    with pytest.raises(EventFormatError, match="not an AEDAT4 file"):
        read_aedat4(path)


def test_truncated_packet_names_its_offset(fake):
    path, _ = fake
    _, packets = read_aedat4_header(path)
    path.write_bytes(path.read_bytes()[: packets[2].offset + 100])
    with pytest.raises(EventFormatError, match="truncated AEDAT4 packet") as info:
        read_aedat4(path)
    assert info.value.offset == packets[2].offset
    assert f"byte {packets[2].offset}" in str(info.value)


def test_truncated_header(fake):
    path, _ = fake
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(EventFormatError, match="truncated AEDAT4 header") as info:
        read_aedat4(path)
    assert info.value.offset == 14


def test_truncated_real_sample_says_where_the_packets_should_end(tmp_path):
    data = sample_file("sample.aedat4").read_bytes()
    path = tmp_path / "cut.aedat4"
    path.write_bytes(data[:500_000])
    with pytest.raises(EventFormatError, match="truncated AEDAT4 file.*945243"):
        read_aedat4(path)


def test_damaged_description(tmp_path):
    path = tmp_path / "d.aedat4"
    handmade_file(path, [], description="<dv><node name='outInfo'></node>")
    with pytest.raises(EventFormatError, match="not valid XML"):
        read_aedat4(path)
    handmade_file(path, [], description=description_xml(128, 128).replace("EVTS", "IMUS"))
    with pytest.raises(EventFormatError, match="no EVTS event stream"):
        read_aedat4(path)
    handmade_file(path, [], description=description_xml(128, 128).replace(">128<", ">x<"))
    with pytest.raises(EventFormatError, match="info/sizeX"):
        read_aedat4(path)


def test_damaged_packet_payload_is_reported_by_packet(tmp_path, rng):
    events = random_events(rng, 100, (128, 128, 2))
    packet = bytearray(event_packet_bytes(events))
    packet[8:12] = b"XXXX"  # the flatbuffer identifier
    path = tmp_path / "p.aedat4"
    handmade_file(path, [event_packet_bytes(events), bytes(packet)])
    with pytest.raises(EventFormatError, match="aedat decoder failed on packet 1") as info:
        read_aedat4(path)
    assert info.value.offset == read_aedat4_header(path)[1][1].offset


def test_events_outside_the_sensor_and_out_of_order(tmp_path):
    path = tmp_path / "o.aedat4"
    handmade_file(path, [event_packet_bytes(make_events([1, 130], [1, 1], [5, 6], [0, 1]))])
    with pytest.raises(EventFormatError, match="x = 130 outside the sensor") as info:
        read_aedat4(path)
    assert info.value.index == 1
    handmade_file(
        path,
        [
            event_packet_bytes(make_events([1, 2], [1, 1], [5, 9], [0, 1])),
            event_packet_bytes(make_events([1, 2], [1, 1], [8, 10], [0, 1])),
        ],
    )
    with pytest.raises(EventFormatError, match=r"goes back in time \(9 -> 8 us\)") as info:
        read_aedat4(path)
    assert info.value.index == 2
    with pytest.raises(EventFormatError, match="event 2"):
        list(iter_aedat4(path, 1))
    # the stored int16 -1 must not turn into 65535 or pass as a coordinate
    handmade_file(path, [event_packet_bytes(make_events([-1], [1], [5], [0]))])
    with pytest.raises(EventFormatError, match="negative x = -1"):
        read_aedat4(path)


class _PanicException(BaseException):
    """Stands in for pyo3's PanicException (a BaseException, not an Exception)."""


_PanicException.__name__ = "PanicException"


def test_rust_panics_become_event_format_errors(fake, monkeypatch):
    path, _ = fake

    class Panicking:
        def __init__(self, path):
            pass

        def __iter__(self):
            return self

        def __next__(self):
            raise _PanicException("called `Option::unwrap()` on a `None` value")

    monkeypatch.setattr(aedat, "Decoder", Panicking)
    with pytest.raises(EventFormatError, match="aedat decoder crashed on packet 0") as info:
        read_aedat4(path)
    assert str(path) in str(info.value)

    class Interrupted(Panicking):
        def __next__(self):
            raise KeyboardInterrupt

    monkeypatch.setattr(aedat, "Decoder", Interrupted)
    with pytest.raises(KeyboardInterrupt):
        read_aedat4(path)


def test_writer_needs_a_sensor_size(tmp_path, rng):
    events = random_events(rng, 10, (128, 128, 2))
    with pytest.raises(EventFormatError, match="sensor_size"):
        write_aedat4(tmp_path / "n.aedat4", events)
    with pytest.raises(EventFormatError, match="outside the sensor"):
        write_aedat4(tmp_path / "n.aedat4", events, (16, 16, 2))
    assert not list(tmp_path.iterdir())
