"""Prophesee .dat (N-CARS) and EVT 2.0 / EVT 3.0 .raw: equality with expelliarmus (which
Tonic ships) where it is right, the real N-CARS sample, hand-made word streams with known
events, counter wraps, chunking and damage."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import sample_file
from native_layouts import (
    evt2_words,
    evt3_vector_groups,
    evt3_words,
    prophesee_header,
    write_dat,
    write_raw,
)
from test_io_fakes import random_events

from snn_transfer.errors import EventFormatError
from snn_transfer.events.core import EVENT_DTYPE, make_events
from snn_transfer.events.io import describe, detect_format, iter_events, read_events
from snn_transfer.events.io.prophesee_header import read_header

expelliarmus = pytest.importorskip("expelliarmus")


def wizard_events(encoding: str, path) -> np.ndarray:
    return expelliarmus.Wizard(encoding=encoding).read(str(path))


def assert_same_events(ours: np.ndarray, theirs: np.ndarray) -> None:
    assert len(ours) == len(theirs)
    for field in "xytp":
        np.testing.assert_array_equal(ours[field].astype(np.int64), theirs[field].astype(np.int64))


def expelliarmus_array(events: np.ndarray) -> np.ndarray:
    out = np.zeros(len(events), dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "u1")])
    for field in "xytp":
        out[field] = events[field]
    return out


# --- .dat -----------------------------------------------------------------------------------


def test_real_ncars_sample_equals_expelliarmus():
    path = sample_file("sample_ncars.dat")
    recording = read_events(path)
    assert recording.format == "prophesee-dat" and recording.sensor_size is None
    theirs = wizard_events("dat", path)
    assert_same_events(recording.events, theirs)
    events = recording.events
    assert len(events) == 2009 and events.dtype == EVENT_DTYPE
    assert (int(events["t"][0]), int(events["t"][-1])) == (0, 99_952)
    assert (int(events["x"].max()), int(events["y"].max())) == (77, 41)
    assert int(events["p"].sum()) == 1350
    assert events[:3].tolist() == [(25, 8, 0, 0), (67, 35, 35, 0), (56, 27, 152, 1)]
    header = read_header(path)
    assert header.lines[0] == "Data file containing N9Chronocam7Event2dE events."
    assert header.keys["Version"] == "2" and header.data_start == 91
    np.testing.assert_array_equal(np.concatenate(list(iter_events(path, chunk_size=97))), events)


def test_dat_fake_round_trips_and_expelliarmus_reads_it(tmp_path, rng):
    events = random_events(rng, 3000, (304, 240, 2), t_max=5_000_000)
    path = tmp_path / "fake.dat"
    write_dat(path, events, (304, 240, 2))
    recording = read_events(path)
    assert recording.sensor_size == (304, 240, 2)
    np.testing.assert_array_equal(recording.events, events)
    assert_same_events(recording.events, wizard_events("dat", path))


def test_dat_written_by_expelliarmus_is_read(tmp_path, rng):
    events = random_events(rng, 2000, (304, 240, 2))
    path = tmp_path / "theirs.dat"
    expelliarmus.Wizard(encoding="dat").save(str(path), expelliarmus_array(events))
    assert detect_format(path) == "prophesee-dat"
    np.testing.assert_array_equal(read_events(path).events, events)


def test_dat_timestamps_unwrap_the_32_bit_counter_but_a_small_decrease_is_damage(tmp_path):
    path = tmp_path / "wrap.dat"
    t = [2**32 - 20, 2**32 - 5, 2**32 + 3, 2**32 + 40]
    write_dat(path, make_events([1, 2, 3, 4], [5, 6, 7, 8], t, [0, 1, 0, 1]))
    assert read_events(path).events["t"].tolist() == t
    for chunk in (1, 2, 3):
        joined = np.concatenate(list(iter_events(path, chunk_size=chunk)))
        assert joined["t"].tolist() == t
    write_dat(path, make_events([1, 2], [1, 1], [100, 90], [0, 0]))
    start = read_header(path).data_start + 2
    with pytest.raises(EventFormatError, match="back in time") as info:
        read_events(path)
    assert (info.value.index, info.value.offset) == (1, start + 8)
    # expelliarmus reads the same decrease as a wrap of the counter: 71 minutes later
    assert wizard_events("dat", path)["t"].tolist() == [100, 2**32 + 90]


def test_dat_damage_names_the_file_and_offset(tmp_path):
    events = make_events([1, 300], [2, 3], [10, 20], [1, 0])
    path = tmp_path / "d.dat"
    write_dat(path, events, (304, 240, 2))
    start = read_header(path).data_start + 2
    data = path.read_bytes()

    path.write_bytes(data[:-3])  # truncated record
    with pytest.raises(EventFormatError, match="truncated .dat file.*5 of 8") as info:
        read_events(path)
    assert info.value.offset == start + 8 and str(path) in str(info.value)

    path.write_bytes(data[: start - 1])  # the type/size bytes cut
    with pytest.raises(EventFormatError, match="type and size bytes"):
        read_events(path)

    damaged = bytearray(data)
    damaged[start + 8 + 7] |= 0x40  # polarity field 4 in the second record
    path.write_bytes(bytes(damaged))
    with pytest.raises(EventFormatError, match="polarity field 4") as info:
        read_events(path)
    assert (info.value.offset, info.value.index) == (start + 8, 1)

    write_dat(path, events, (256, 240, 2))  # x = 300 outside a declared 256-wide sensor
    with pytest.raises(EventFormatError, match="x = 300 outside the sensor") as info:
        read_events(path)
    assert info.value.index == 1 and str(path) in str(info.value)

    write_dat(path, events, event_type=0x0E)
    with pytest.raises(EventFormatError, match="event type 0x0e of 8 bytes"):
        read_events(path)

    path.write_bytes(b"% Date 2024\n% Height 24")  # header line without its end
    with pytest.raises(EventFormatError, match="truncated Prophesee header") as info:
        read_events(path)
    assert info.value.offset == 12

    path.write_bytes(b"")
    with pytest.raises(EventFormatError, match="the file is empty") as info:
        read_events(path)
    assert str(path) in str(info.value)

    path.write_bytes(prophesee_header(["Version 2", "Height 24", "Width 32"]) + b"\x0c\x08")
    assert len(read_events(path).events) == 0 and read_events(path).sensor_size == (32, 24, 2)


# --- EVT 2.0 ----------------------------------------------------------------------------------


def test_evt2_fake_round_trips_and_equals_expelliarmus(tmp_path, rng):
    events = random_events(rng, 4000, (640, 480, 2), t_max=3_000_000)
    path = tmp_path / "a.raw"
    write_raw(path, "evt2", events, (640, 480, 2))
    assert detect_format(path) == "evt2"
    recording = read_events(path)
    assert recording.format == "evt2" and recording.sensor_size == (640, 480, 2)
    np.testing.assert_array_equal(recording.events, events)
    assert_same_events(recording.events, wizard_events("evt2", path))


def test_evt2_written_by_expelliarmus_is_read(tmp_path, rng):
    events = random_events(rng, 2000, (640, 480, 2), t_max=2_000_000)
    path = tmp_path / "theirs.raw"
    expelliarmus.Wizard(encoding="evt2").save(str(path), expelliarmus_array(events))
    assert detect_format(path) == "evt2" and read_header(path).keys["evt"] == "2.0"
    np.testing.assert_array_equal(read_events(path).events, events)


def test_evt2_word_layout_by_hand(tmp_path):
    words = [
        0x10000000 | (3 << 22) | (5 << 11) | 7,  # CD ON before any TIME_HIGH: no time, dropped
        0x80000000 | 1000,  # TIME_HIGH: t = 1000 * 64 + low
        0x10000000 | (3 << 22) | (5 << 11) | 7,
        0xA0000000,  # trigger: skipped
        0x00000000 | (63 << 22) | (639 << 11) | 479,
        0x80000000 | 0x0FFFFFFF,  # the last TIME_HIGH before the 2**34 us loop
        0x10000000 | (1 << 22),
        0x80000000 | 2,  # after the loop
        0x00000000,
    ]
    path = tmp_path / "h.raw"
    write_raw(path, "evt2", words=np.array(words, np.uint32), sensor_size=(640, 480, 2))
    events = read_events(path).events
    loop = 1 << 34
    assert events.tolist() == [
        (5, 7, 64_003, 1),
        (639, 479, 64_063, 0),
        (0, 0, loop - 64 + 1, 1),
        (0, 0, loop + 128, 0),
    ]
    # expelliarmus keeps the event from before the first TIME_HIGH (at t = 3) and has no loop
    assert wizard_events("evt2", path)["t"].tolist()[:2] == [3, 64_003]


# --- EVT 3.0 ----------------------------------------------------------------------------------


def test_evt3_time_high_change_and_the_expelliarmus_error(tmp_path):
    words = [0x8000, 0x6000 | 4000, 0x0005, 0x2000 | 7]
    words += [0x8000 | 1, 0x6000 | 10, 0x2000 | (1 << 11) | 8]
    words += [0x8000 | 2, 0x6000 | 3, 0x2000 | 9]
    path = tmp_path / "h.raw"
    write_raw(path, "evt3", words=np.array(words, np.uint16), sensor_size=(1280, 720, 2))
    events = read_events(path).events
    assert events.tolist() == [(7, 5, 4000, 0), (8, 5, 4096 + 10, 1), (9, 5, 8192 + 3, 0)]
    # expelliarmus counts each TIME_LOW decrease as a wrap on top of the new TIME_HIGH
    theirs = wizard_events("evt3", path)
    assert theirs["t"].tolist() == [4000, 4096 + 10 + 4096, 8192 + 3 + 8192]


def test_evt3_state_rules_by_hand(tmp_path):
    words = [
        0x0003,  # a row before any time: kept as state
        0x2000 | 1,  # an event before the first TIME_HIGH: dropped
        0x8000 | 5,  # TIME_HIGH 5: t = 5 * 4096 (+ low 0 until a TIME_LOW)
        0x2000 | 2,
        0x6000 | 100,
        0x8000 | 5,  # the same TIME_HIGH again keeps the low bits
        0x2000 | 3,
        0x3000 | (1 << 11) | 10,  # vector base x = 10, ON
        0x4000 | 0b100000000101,  # VECT_12: x = 10, 12, 21; base -> 22
        0x5000 | 0b10000001,  # VECT_8: x = 22, 29; base -> 30
        0x1004,  # a non-CD (exposure) row: its events are skipped
        0x2000 | 4,
        0x0006,
        0x7000,  # CONTINUED_4, EXT_TRIGGER, OTHERS, CONTINUED_12: skipped
        0xA000,
        0xE000,
        0xF000,
        0x4000 | 1,  # VECT_12 continues from base 30
        0x8000 | 4095,
        0x6000 | 7,
        0x2000 | 5,
        0x8000 | 0,  # 4095 -> 0: the 24-bit time base wrapped
        0x2000 | 6,
    ]
    path = tmp_path / "s.raw"
    write_raw(path, "evt3", words=np.array(words, np.uint16), sensor_size=(1280, 720, 2))
    t5 = 5 * 4096
    expected = [
        (2, 3, t5, 0),
        (3, 3, t5 + 100, 0),
        (10, 3, t5 + 100, 1),
        (12, 3, t5 + 100, 1),
        (21, 3, t5 + 100, 1),
        (22, 3, t5 + 100, 1),
        (29, 3, t5 + 100, 1),
        (30, 6, t5 + 100, 1),
        (5, 6, 4095 * 4096 + 7, 0),
        (6, 6, 1 << 24, 0),
    ]
    assert read_events(path).events.tolist() == expected
    for chunk in (1, 2, 3, 5):  # the decoder state crosses chunk borders
        joined = np.concatenate(list(iter_events(path, chunk_size=chunk)))
        assert joined.tolist() == expected


def test_evt3_vectors_decode_to_the_events_they_hold(tmp_path, rng):
    words, events = evt3_vector_groups(rng, 600)
    path = tmp_path / "v.raw"
    write_raw(path, "evt3", words=words, sensor_size=(1280, 720, 2))
    assert np.sum((words >> 12) == 0x4) > 200
    ours = read_events(path).events
    np.testing.assert_array_equal(ours, events)
    for chunk in (7, 100):
        np.testing.assert_array_equal(
            np.concatenate(list(iter_events(path, chunk_size=chunk))), events
        )


def test_evt3_fake_round_trips_and_equals_expelliarmus_within_one_time_high(tmp_path, rng):
    events = random_events(rng, 3000, (1280, 720, 2), t_max=2_000_000)
    path = tmp_path / "a.raw"
    write_raw(path, "evt3", events, (1280, 720, 2))
    assert len(evt3_words(events)) > len(events)
    np.testing.assert_array_equal(read_events(path).events, events)
    # expelliarmus agrees while the high time bits do not change
    short = events.copy()
    short["t"] = 7 * 4096 + np.sort(rng.integers(0, 4096, len(events)))
    write_raw(path, "evt3", short, (1280, 720, 2))
    assert_same_events(read_events(path).events, wizard_events("evt3", path))


def test_evt3_written_by_expelliarmus_within_one_time_high_is_read(tmp_path, rng):
    events = random_events(rng, 1000, (1280, 720, 2))
    events["t"] = 3 * 4096 + np.sort(rng.integers(0, 4096, len(events)))
    path = tmp_path / "theirs.raw"
    expelliarmus.Wizard(encoding="evt3").save(str(path), expelliarmus_array(events))
    assert detect_format(path) == "evt3"
    np.testing.assert_array_equal(read_events(path).events, events)


# --- shared: header, detection, damage ----------------------------------------------------------


def test_raw_header_geometry_and_encoding(tmp_path):
    path = tmp_path / "r.raw"
    header = ["camera_integrator_name Prophesee", "evt 3.0", "format EVT3;height=720;width=1280"]
    write_raw(path, "evt3", words=np.array([], np.uint16), header=[*header, "end"])
    parsed = read_header(path)
    assert (parsed.encoding, parsed.sensor_size) == ("evt3", (1280, 720, 2))
    assert describe(path)["sensor_size"] == (1280, 720, 2) and describe(path)["events"] == 0
    write_raw(path, "evt2", words=np.array([], np.uint32), header=["evt 2.0", "geometry 640x480"])
    assert read_header(path).sensor_size == (640, 480, 2) and detect_format(path) == "evt2"
    write_raw(path, "evt3", words=np.array([], np.uint16), header=["date today"])
    assert read_header(path).encoding is None
    with pytest.raises(EventFormatError, match="can be evt2 or evt3.*format='evt2'"):
        detect_format(path)
    assert len(read_events(path, format="evt3").events) == 0


def test_raw_damage_names_the_file_and_offset(tmp_path, rng):
    events = random_events(rng, 50, (640, 480, 2))
    path = tmp_path / "d.raw"
    write_raw(path, "evt3", events, (640, 480, 2))
    start = read_header(path).data_start
    data = path.read_bytes()

    path.write_bytes(data[:-1])
    with pytest.raises(EventFormatError, match="truncated evt3 file") as info:
        read_events(path)
    assert info.value.offset == len(data) - 2 and str(path) in str(info.value)

    damaged = bytearray(data)
    damaged[start + 7] = 0x9F  # the fourth word becomes an undefined type 0x9
    path.write_bytes(bytes(damaged))
    with pytest.raises(EventFormatError, match="word type 0x9 is not an evt3") as info:
        read_events(path)
    assert info.value.offset == start + 6

    write_raw(path, "evt3", events, (320, 240, 2))  # a smaller declared geometry
    with pytest.raises(EventFormatError, match="outside the sensor"):
        read_events(path)

    write_raw(path, "evt2", events, (640, 480, 2))
    with pytest.raises(EventFormatError, match="declares the evt2 encoding, not evt3"):
        read_events(path, format="evt3")
    with pytest.raises(EventFormatError, match="this is a .raw recording"):
        read_events(path, format="prophesee-dat")

    write_raw(path, "evt3", words=np.array([], np.uint16), header=["format EVT21;height=7"])
    with pytest.raises(EventFormatError, match="declares the EVT21 encoding.*not supported"):
        read_events(path, format="evt3")

    unsorted = make_events([1, 2], [1, 1], [5000, 10], [0, 0])
    path.write_bytes(prophesee_header(["evt 2.0"]) + evt2_words(unsorted).tobytes())
    with pytest.raises(EventFormatError, match="back in time") as info:
        read_events(path)
    assert info.value.index == 1

    path.write_bytes(b"")
    with pytest.raises(EventFormatError, match="the file is empty"):
        read_events(path, format="evt2")


# --- the vectorised decoders against a word-by-word loop of the rules --------------------------


def loop_evt3(words) -> list[tuple[int, int, int, int]]:
    """EVT 3.0 decoded one word at a time, following the rules in prophesee_raw's docstring."""
    out, y, cd, base, pol, high, low, loops = [], None, True, None, 0, None, 0, 0
    for word in (int(w) for w in words):
        kind, value = word >> 12, word & 0xFFF
        if kind in (0x0, 0x1):
            y, cd = value & 0x7FF, kind == 0x0
        elif kind == 0x6:
            low = value
        elif kind == 0x8:
            if high is not None and (high % 4096) - value >= 2048:
                loops += 1
            new = loops * 4096 + value
            if new != high:
                low = 0
            high = new
        elif kind == 0x3:
            base, pol = value & 0x7FF, value >> 11
        elif kind in (0x2, 0x4, 0x5):
            if kind != 0x2 and base is None:
                continue
            ready = high is not None and y is not None and cd
            if kind == 0x2:
                if ready:
                    out.append((value & 0x7FF, y, high * 4096 + low, value >> 11))
                continue
            size = 12 if kind == 0x4 else 8
            if ready:
                out += [
                    (base + k, y, high * 4096 + low, pol) for k in range(size) if value >> k & 1
                ]
            base += size
    return out


def loop_evt2(words) -> list[tuple[int, int, int, int]]:
    out, high, loops = [], None, 0
    for word in (int(w) for w in words):
        kind = word >> 28
        if kind == 0x8:
            value = word & 0x0FFFFFFF
            if high is not None and (high % (1 << 28)) - value > (1 << 27):
                loops += 1
            high = loops * (1 << 28) + value
        elif kind <= 0x1 and high is not None:
            t = (high << 6) | (word >> 22) & 0x3F
            out.append(((word >> 11) & 0x7FF, word & 0x7FF, t, kind))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_vectorised_decoders_equal_the_word_by_word_rules(seed):
    from snn_transfer.events.io.prophesee_raw import (
        Evt2State,
        Evt3State,
        decode_evt2,
        decode_evt3,
    )

    rng = np.random.default_rng(seed)
    kinds = np.array([0x0, 0x1, 0x2, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0x8, 0xA, 0xE, 0xF])
    words = (rng.choice(kinds, 3000) << 12) | rng.integers(0, 1 << 12, 3000)
    words = words.astype(np.uint16)
    expected = loop_evt3(words)
    for chunk in (3000, 7, 1):  # the state carried across chunks
        state, got = Evt3State(), []
        for start in range(0, len(words), chunk):
            got += decode_evt3(words[start : start + chunk], state)[0].tolist()
        assert got == expected
    kinds2 = np.array([0x0, 0x1, 0x8, 0xA, 0xE, 0xF], np.uint32)
    words2 = (rng.choice(kinds2, 3000) << 28) | rng.integers(0, 1 << 28, 3000).astype(np.uint32)
    expected = loop_evt2(words2)
    for chunk in (3000, 5):
        state, got = Evt2State(), []
        for start in range(0, len(words2), chunk):
            got += decode_evt2(words2[start : start + chunk], state)[0].tolist()
        assert got == expected
