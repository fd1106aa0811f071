"""AEDAT 2.0: DVS128 (equality with SpikingJelly's CIFAR10-DVS decoding and Tonic's AER
parsing) and DAVIS (equality with Tonic's ``read_davis_346`` on polarity events, APS, IMU
and trigger records skipped), the real DAVIS346 header sample, timestamp wrap-around,
damage."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import sample_file
from native_layouts import davis_addresses, write_davis_aedat2
from test_io_fakes import random_events

from snn_transfer.errors import EventFormatError
from snn_transfer.events.core import EVENT_DTYPE, make_events
from snn_transfer.events.io import (
    describe,
    iter_aedat2,
    read_aedat2,
    read_aedat2_header,
    read_events,
    write_aedat2,
)
from snn_transfer.events.io.aedat2 import RECORD, TIME_PERIOD

HEADER = b"#!AER-DAT2.0\r\n# This is a raw AE data file\r\n# AEChip: Tmpdiff128\r\n"


def raw_file(path, addresses, timestamps, header=HEADER) -> None:
    records = np.empty(len(addresses), dtype=RECORD)
    records["address"] = addresses
    records["timestamp"] = timestamps
    path.write_bytes(header + records.tobytes())


@pytest.fixture
def fake(tmp_path, rng):
    events = random_events(rng, 5000, (128, 128, 2), t_max=2_000_000)
    events["t"] += 123_456  # jAER timestamps do not start at 0
    path = tmp_path / "fake.aedat"
    write_aedat2(path, events)
    return path, events


def test_round_trip(fake):
    path, events = fake
    recording = read_aedat2(path)
    assert recording.events.dtype == EVENT_DTYPE
    assert recording.sensor_size == (128, 128, 2) and recording.format == "aedat2"
    np.testing.assert_array_equal(recording.events, events)


def test_equals_spikingjelly_cifar10_dvs_loader(fake):
    cifar10_dvs = pytest.importorskip("spikingjelly.datasets.cifar10_dvs")
    path, _ = fake
    theirs = cifar10_dvs._load_origin_data(str(path))
    ours = read_aedat2(path).events
    for field in "xytp":
        np.testing.assert_array_equal(ours[field], np.asarray(theirs[field]).astype(np.int64))


def test_address_bits_map_like_spikingjelly(tmp_path):
    # bit 0 polarity, bits 1-7 column, bits 8-14 row; x = 127 - row, y = 127 - column
    path = tmp_path / "bits.aedat"
    raw_file(path, [(5 << 8) | (9 << 1) | 1, (127 << 8) | 0, 0xFFFF0000 | (1 << 8)], [10, 11, 12])
    events = read_aedat2(path).events
    assert events.tolist() == [(122, 118, 10, 0), (0, 127, 11, 1), (126, 127, 12, 1)]


def test_equals_tonic_aer_parsing(fake):
    tonic_io = pytest.importorskip("tonic.io")
    path, _ = fake
    version, data_start, _ = tonic_io.read_aedat_header_from_file(str(path))
    assert version == 2.0
    assert data_start == read_aedat2_header(path).data_start
    records = tonic_io.get_aer_events_from_file(str(path), version, data_start)
    address = records["address"].astype(np.int64)
    ours = read_aedat2(path).events
    np.testing.assert_array_equal(ours["t"], records["timeStamp"].astype(np.int64))
    np.testing.assert_array_equal(ours["x"], 127 - ((address >> 8) & 0x7F))
    np.testing.assert_array_equal(ours["y"], 127 - ((address >> 1) & 0x7F))
    np.testing.assert_array_equal(ours["p"], 1 - (address & 1))


def test_real_header_sample_is_parsed_like_tonic():
    tonic_io = pytest.importorskip("tonic.io")
    path = sample_file("sample_aedat_header.aedat")
    header = read_aedat2_header(path)
    version, data_start, start_timestamp = tonic_io.read_aedat_header_from_file(str(path))
    assert header.version == "2.0" and version == 2.0
    # header-only file: the data would start at its end, byte 599; tonic backs up one byte
    # there (it reads one byte past each line and seeks back, and at EOF reads nothing)
    assert header.data_start == 599 == path.stat().st_size
    assert data_start == 598
    assert header.creation_time_ms == start_timestamp == 1_695_355_587_880
    assert header.chip == "eu.seebetter.ini.chips.davis.Davis346red"
    assert header.lines[0] == "!AER-DAT2.0" and len(header.lines) == 12
    assert len(tonic_io.get_aer_events_from_file(str(path), version, data_start)) == 0
    # a DAVIS346 recording with no records: an empty stream on the chip's sensor
    recording = read_aedat2(path)
    assert recording.sensor_size == (346, 260, 2) and len(recording.events) == 0
    assert len(tonic_io.read_davis_346(str(path))[2]) == 0
    info = describe(path)
    assert (info["format"], info["sensor_size"], info["events"]) == ("aedat2", (346, 260, 2), 0)


def test_timestamp_wrap_adds_2_pow_32(tmp_path):
    path = tmp_path / "wrap.aedat"
    raw = [TIME_PERIOD - 20, TIME_PERIOD - 5, 3, 40]
    raw_file(path, [0, 0, 0, 0], raw)
    t = read_aedat2(path).events["t"].tolist()
    assert t == [TIME_PERIOD - 20, TIME_PERIOD - 5, TIME_PERIOD + 3, TIME_PERIOD + 40]
    for chunk in (1, 2, 3):  # the wrap may fall on a chunk border
        assert np.concatenate(list(iter_aedat2(path, chunk)))["t"].tolist() == t


def test_writer_stores_time_modulo_2_pow_32(tmp_path):
    events = make_events(
        [1, 2, 3], [4, 5, 6], [TIME_PERIOD - 1, TIME_PERIOD, TIME_PERIOD + 7], [0, 1, 0]
    )
    path = tmp_path / "w.aedat"
    write_aedat2(path, events)
    np.testing.assert_array_equal(read_aedat2(path).events, events)
    with pytest.raises(EventFormatError, match="2\\*\\*31"):
        write_aedat2(path, make_events([1, 1], [1, 1], [0, TIME_PERIOD], [0, 0]))


@pytest.mark.parametrize("chunk", [1, 333, 1 << 20])
def test_chunks_equal_the_full_read(fake, chunk):
    path, events = fake
    chunks = list(iter_aedat2(path, chunk))
    assert all(0 < len(c) <= chunk for c in chunks)
    np.testing.assert_array_equal(np.concatenate(chunks), events)


def test_header_only_is_an_empty_stream(tmp_path):
    path = tmp_path / "h.aedat"
    path.write_bytes(HEADER)
    assert len(read_aedat2(path).events) == 0


def test_bad_headers(tmp_path):
    path = tmp_path / "b.aedat"
    path.write_bytes(b"")
    with pytest.raises(EventFormatError, match="not an AEDAT file.*empty") as info:
        read_aedat2(path)
    assert info.value.offset == 0
    path.write_bytes(b"hello world\n" + bytes(16))
    with pytest.raises(EventFormatError, match="not an AEDAT file"):
        read_aedat2(path)
    path.write_bytes(b"#!AER-DAT3.1\r\n" + bytes(28))
    with pytest.raises(EventFormatError, match="version '3.1' is not supported"):
        read_aedat2(path)
    path.write_bytes(b"#!AER-DAT2.0\r\n# cut off here")
    with pytest.raises(EventFormatError, match="truncated AEDAT header") as info:
        read_aedat2(path)
    assert info.value.offset == 14


def test_truncated_record_names_its_offset(fake):
    path, _ = fake
    start = read_aedat2_header(path).data_start
    path.write_bytes(path.read_bytes()[: start + 8 * 10 + 3])
    for attempt in (lambda: read_aedat2(path), lambda: list(iter_aedat2(path, 4))):
        with pytest.raises(EventFormatError, match="truncated AEDAT 2 file") as info:
            attempt()
        assert info.value.offset == start + 80


def test_timestamps_going_back_name_the_record(tmp_path):
    path = tmp_path / "back.aedat"
    raw_file(path, [0, 0, 0], [100, 200, 150])
    with pytest.raises(EventFormatError, match=r"200 -> 150") as info:
        read_aedat2(path)
    assert info.value.index == 2 and info.value.offset == len(HEADER) + 16


# --- DAVIS ----------------------------------------------------------------------------------


@pytest.fixture
def davis(tmp_path, rng):
    events = random_events(rng, 3000, (346, 260, 2), t_max=2_000_000)
    events["t"] += 1_000_000
    return tmp_path / "davis.aedat", events


def test_davis346_equals_tonic_read_davis_346(davis):
    tonic_io = pytest.importorskip("tonic.io")
    path, events = davis
    write_davis_aedat2(path, events)
    recording = read_events(path)
    assert recording.format == "aedat2" and recording.sensor_size == (346, 260, 2)
    np.testing.assert_array_equal(recording.events, events)
    shape, _, theirs = tonic_io.read_davis_346(str(path))
    assert shape == (346, 260)
    for field in "xytp":
        np.testing.assert_array_equal(events[field], theirs[field].astype(np.int64))


def test_davis_aps_imu_and_trigger_records_are_skipped(davis, rng):
    tonic_io = pytest.importorskip("tonic.io")
    path, events = davis
    address = write_davis_aedat2(path, events, others=400, rng=rng)
    np.testing.assert_array_equal(read_aedat2(path).events, events)
    for chunk in (1, 333, 1 << 20):
        np.testing.assert_array_equal(np.concatenate(list(iter_aedat2(path, chunk))), events)
    # Tonic decodes the 400 other records as polarity events too
    theirs = tonic_io.read_davis_346(str(path))[2]
    assert len(theirs) == len(events) + 400
    polarity = ((address & 0x80000000) == 0) & ((address & 0xC00) != 0x400)
    assert polarity.sum() == len(events)
    np.testing.assert_array_equal(theirs["x"][polarity], events["x"])


def test_davis_address_bits_by_hand(tmp_path):
    path = tmp_path / "bits.aedat"
    # y_raw 0 (bottom row), x_raw 0 (rightmost column), ON
    address = [(0 << 22) | (0 << 12) | (1 << 11), (259 << 22) | (345 << 12), 0x80000C00]
    write_davis_aedat2(path, make_events([0], [0], [0], [0]))
    header = path.read_bytes()[: read_aedat2_header(path).data_start]
    raw_file(path, address, [5, 6, 7], header=header)
    assert read_aedat2(path).events.tolist() == [(345, 259, 5, 1), (0, 0, 6, 0)]


@pytest.mark.parametrize(
    ("chip", "size"),
    [("DAVIS240C", (240, 180, 2)), ("Davis640", (640, 480, 2)), ("Davis346B", (346, 260, 2))],
)
def test_davis_chips_give_their_sensor_size(tmp_path, rng, chip, size):
    events = random_events(rng, 500, size)
    path = tmp_path / "c.aedat"
    write_davis_aedat2(path, events, size, chip=chip)
    recording = read_events(path)
    assert recording.sensor_size == size
    np.testing.assert_array_equal(recording.events, events)
    assert davis_addresses(events, *size[:2]).max() < 2**31


def test_unknown_chips_are_refused_naming_the_supported_ones(tmp_path):
    path = tmp_path / "u.aedat"
    for chip in ("Davis346mini", "SomeFutureSensor"):
        write_davis_aedat2(path, make_events([1], [1], [1], [1]), chip=chip)
        with pytest.raises(
            EventFormatError, match=f"AEChip .*{chip}, whose address layout"
        ) as info:
            read_events(path)
        assert "DVS128 / Tmpdiff128 (128x128), DAVIS346* (346x260)" in str(info.value)
        assert str(path) in str(info.value) and info.value.offset == 0


def test_davis_address_outside_the_chip_names_the_record(tmp_path):
    path = tmp_path / "o.aedat"
    write_davis_aedat2(path, make_events([1, 2], [1, 2], [1, 2], [1, 1]))
    start = read_aedat2_header(path).data_start
    data = bytearray(path.read_bytes())
    data[start + 8 : start + 12] = ((400 << 12) | (1 << 22)).to_bytes(4, "big")
    path.write_bytes(bytes(data))
    with pytest.raises(
        EventFormatError, match=r"address of \(400, 1\) outside the DAVIS346"
    ) as info:
        read_events(path)
    assert info.value.offset == start + 8
