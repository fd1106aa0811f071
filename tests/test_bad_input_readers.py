"""Defects that fuzzing the readers found (scripts/fuzz_readers.py, seeded and with
atheris), kept as regressions; each raised something other than ``EventFormatError``.

* ``str.isdigit()`` is true for characters such as ``¹`` and ``²`` that ``int()`` refuses:
  a header digit damaged into one raised ``ValueError`` (AEDAT 2 creation time, AEDAT 4
  stream ids and sensor sizes, sorting names).
* ``np.diff`` of int64 timestamps far apart overflowed, so a decrease was seen but not
  located (``IndexError``).
* A packet too short for a flatbuffer made the ``aedat`` decoder panic.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

from snn_transfer.errors import EventFormatError
from snn_transfer.events.core import make_events
from snn_transfer.events.io import read_aedat2_header, read_events, write_events
from snn_transfer.events.io.aedat4_layout import MAGIC, description_xml, ioheader_bytes
from snn_transfer.events.static.images import natural_key

EVENTS = make_events([1, 2, 3], [4, 5, 6], [10, 20, 30], [0, 1, 0])


def test_aedat2_creation_time_with_a_superscript_digit_is_ignored(tmp_path):
    path = tmp_path / "r.aedat"
    write_events(path, EVENTS, "aedat2")
    data = path.read_bytes()
    # jAER writes this line; byte 0xB9 is "¹" in latin-1, where one flipped bit puts it
    line = b"# Creation time: System.currentTimeMillis() 16\xb95355587880\r\n"
    end = data.index(b"# Written by")
    path.write_bytes(data[:end] + line + data[end:])

    header = read_aedat2_header(path)
    assert header.creation_time_ms is None
    assert header.lines[-2] == " Creation time: System.currentTimeMillis() 16¹5355587880"
    np.testing.assert_array_equal(read_events(path).events, EVENTS)


def test_aedat2_creation_time_in_ascii_digits_is_read(tmp_path):
    path = tmp_path / "r.aedat"
    write_events(path, EVENTS, "aedat2")
    data = path.read_bytes()
    end = data.index(b"# Written by")
    line = b"# Creation time: System.currentTimeMillis() 1695355587880\r\n"
    path.write_bytes(data[:end] + line + data[end:])
    assert read_aedat2_header(path).creation_time_ms == 1695355587880


def aedat4_with(tmp_path, description: str):
    header = ioheader_bytes(description)
    path = tmp_path / "r.aedat4"
    path.write_bytes(MAGIC + struct.pack("<I", len(header)) + header)
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('key="sizeX" type="int">64<', 'key="sizeX" type="int">6²<', r"info/sizeX \('6²'"),
        ('key="sizeY" type="int">48<', 'key="sizeY" type="int">²<', r"info/sizeY \('²'"),
        ('key="sizeX" type="int">64<', 'key="sizeX" type="int">40000<', "expected 1..32768"),
        ('key="sizeX" type="int">64<', 'key="sizeX" type="int">0<', "expected 1..32768"),
        ('<node name="0" ', '<node name="²" ', "stream node name '²' is not a stream id"),
    ],
)
def test_aedat4_description_numbers_must_be_ascii_and_fit_int16(tmp_path, old, new, message):
    description = description_xml(64, 48)
    assert old in description
    path = aedat4_with(tmp_path, description.replace(old, new))
    with pytest.raises(EventFormatError, match=message) as caught:
        read_events(path)
    assert str(path) in str(caught.value)


def test_aedat4_header_at_the_int16_limit_is_valid(tmp_path):
    path = aedat4_with(tmp_path, description_xml(32768, 1))
    recording = read_events(path)
    assert recording.sensor_size == (32768, 1, 2) and len(recording) == 0


def test_gesture_header_damage_gives_no_syntax_warning(tmp_path, recwarn):
    path = tmp_path / "g.npy"
    np.save(path, np.zeros((2, 4), np.int64))
    data = path.read_bytes().replace(b"(2, 4)", b"(2, 4if")
    path.write_bytes(data)
    with pytest.raises(EventFormatError, match="header is not a Python dict literal"):
        read_events(path)
    assert not [w for w in recwarn if issubclass(w.category, SyntaxWarning)]


def test_natural_key_keeps_non_decimal_digits_as_text():
    names = ["img10", "²", "img2", "a²b", "img1x", "٣"]
    # "٣" (Arabic-Indic three) is a decimal digit: int() reads it as 3
    assert sorted(names, key=natural_key) == ["٣", "a²b", "img1x", "img2", "img10", "²"]
    assert natural_key("²") == ("²",)
    assert natural_key("img10b") == ("img", 10, "b")


# found by atheris: a timestamp flipped far up, then one flipped far down. np.diff of the
# two overflowed int64 and wrapped to a positive number, so the checker saw the decrease
# but could not find it (IndexError)


def write_unchecked_h5(path, events) -> None:
    """An HDF5 ``events`` file without the writer's checks."""
    import h5py

    with h5py.File(path, "w", libver=("v108", "latest")) as file:
        file.attrs["kind"] = np.bytes_(b"events")
        for name in "xytp":
            file.create_dataset(name, data=np.ascontiguousarray(events[name]))


def test_a_decrease_across_the_int64_range_is_found(tmp_path):
    from snn_transfer.events.io import iter_events

    t = np.array([0, 2**63 - 10, -(2**63) + 5], np.int64)
    path = tmp_path / "far.h5"
    write_unchecked_h5(path, make_events([1, 2, 3], [1, 1, 1], t, [0, 0, 0]))
    message = rf"event 2: timestamp goes back in time \({2**63 - 10} -> {-(2**63) + 5} us\)"
    with pytest.raises(EventFormatError, match=message):
        read_events(path)
    for chunk in (1, 2, 3):
        with pytest.raises(EventFormatError, match=message):
            list(iter_events(path, chunk_size=chunk))


def test_event_dataset_offsets_that_decrease_across_the_int64_range_are_refused(tmp_path):
    import h5py

    from snn_transfer.events.io import EventDataset, EventDatasetWriter

    path = tmp_path / "set.h5"
    with EventDatasetWriter(path, (8, 8, 2), ["a"]) as writer:
        writer.append(make_events([1], [1], [0], [0]), label=0, name="one")
    with h5py.File(path, "r+") as file:
        names = file["names"].dtype
        for key in ("offsets", "labels", "names"):
            del file[key]
        # every np.diff is >= 0 after wrapping around, yet 2**63 - 1 -> -2**63 + 2 decreases
        file["offsets"] = np.array([0, 2**63 - 1, -(2**63) + 2, 1], np.int64)
        file["labels"] = np.zeros(3, np.int64)
        file["names"] = np.array([b"x", b"y", b"z"], dtype=names)
    with pytest.raises(EventFormatError, match="inconsistent event dataset: offsets decrease"):
        EventDataset(path)


# found by atheris: packets too short for a flatbuffer make the aedat decoder panic (Rust
# panics are BaseException); uncompressed ones are now refused before decoding, compressed
# ones still reach the decoder and its real panic must come back as EventFormatError


def aedat4_packet(tmp_path, payload: bytes, compression: int = 0):
    from snn_transfer.events.io.aedat4_layout import PACKET_HEADER

    header = ioheader_bytes(description_xml(16, 16), compression=compression)
    path = tmp_path / "short.aedat4"
    path.write_bytes(
        MAGIC + struct.pack("<I", len(header)) + header + PACKET_HEADER.pack(0, len(payload))
        + payload
    )  # fmt: skip
    return path, 18 + len(header)


@pytest.mark.parametrize("size", [0, 4, 11])
def test_an_uncompressed_packet_shorter_than_a_flatbuffer_prefix_is_refused(tmp_path, size):
    from snn_transfer.events.io import iter_events

    path, offset = aedat4_packet(tmp_path, bytes(size))
    message = f"byte {offset}: AEDAT4 packet of {size} bytes, shorter than a flatbuffer's 12-byte"
    for call in (lambda: read_events(path), lambda: list(iter_events(path))):
        with pytest.raises(EventFormatError, match=message):
            call()


def test_a_real_rust_panic_of_the_decoder_becomes_an_event_format_error(tmp_path):
    from snn_transfer.events.io import iter_events

    # a zstd frame (one raw block, no checksum) that decompresses to 4 bytes: the decoder's
    # flatbuffers code asserts the 12-byte prefix and panics
    content = b"\x04\x00\x00\x00"
    block = ((len(content) << 3) | 1).to_bytes(3, "little") + content
    frame = bytes.fromhex("28b52ffd") + bytes([0x20, len(content)]) + block
    path, offset = aedat4_packet(tmp_path, frame, compression=3)
    message = f"byte {offset}: the aedat decoder crashed on packet 0: assertion failed"
    for call in (lambda: read_events(path), lambda: list(iter_events(path))):
        with pytest.raises(EventFormatError, match=message):
            call()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"% Width 3\xb204\n", r"Width '3²04' is not a size"),
        (b"% Height 0\n", r"Height '0' is not a size"),
        (b"% geometry 1280x72\xb9\n", r"height '72¹' is not a size"),
        (b"% geometry 1280\n", r"geometry '1280' is not WIDTHxHEIGHT"),
        (b"% format EVT3;height=99999;width=4\n", r"height '99999' is not a size in 1..32768"),
    ],
)
def test_prophesee_header_sizes_must_be_ascii_numbers_in_range(tmp_path, line, message):
    # a flipped bit turns a digit into "²" or "¹" (latin-1), which str.isdigit() accepts
    path = tmp_path / "h.dat"
    path.write_bytes(b"% Date 2024\n" + line + b"% Version 2\n\x0c\x08")
    format = "evt3" if b"format" in line else "prophesee-dat"
    with pytest.raises(EventFormatError, match=message) as caught:
        read_events(path, format=format)
    assert str(path) in str(caught.value) and caught.value.offset == 12


def test_prophesee_header_without_end_of_line_or_longer_than_1_mib(tmp_path):
    path = tmp_path / "h.raw"
    path.write_bytes(b"% evt 3.0\n% geometry 64x48")
    with pytest.raises(EventFormatError, match="truncated Prophesee header") as caught:
        read_events(path)
    assert caught.value.offset == 10
    path.write_bytes(b"% evt 3.0\n% " + b"x" * (1 << 20) + b"\n")
    with pytest.raises(EventFormatError, match="longer than 1 MiB"):
        read_events(path, format="evt3")
