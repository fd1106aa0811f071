"""The byte layout of AEDAT 4.0 files, read and written with ``struct`` (no flatbuffers
dependency).

File:

* magic ``#!AER-DAT4.0\\r\\n`` (14 bytes);
* u32 length, then an ``IOHE`` flatbuffer (table ``Ioheader``: field 0 ``compression``
  i32 enum None/LZ4/LZ4High/Zstd/ZstdHigh, field 1 ``file_data_position`` i64 (-1: packets
  run to the end of the file), field 2 ``description`` string: DV's XML tree, whose
  ``outInfo/<id>`` nodes name each stream's ``typeIdentifier`` and, for ``EVTS``, the
  sensor's ``info/sizeX`` and ``info/sizeY``);
* packets: i32 stream id, u32 size, then ``size`` bytes: a size-prefixed flatbuffer
  (compressed as the header says). An ``EVTS`` buffer holds a table whose field 0 is a
  vector of 16-byte structs ``{t: i64 us, x: i16, y: i16, on: u8, 3 bytes padding}``.

All integers are little-endian. Offsets in flatbuffers are counted from the position
where they are stored (tables point at their vtable with a signed offset backwards).
"""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from snn_transfer.errors import EventFormatError

MAGIC = b"#!AER-DAT4.0\r\n"
HEADER_START = len(MAGIC) + 4  # the IOHE flatbuffer starts after the magic and its length
PACKET_HEADER = struct.Struct("<iI")
MIN_PACKET = 12  # a size-prefixed flatbuffer: u32 size, u32 root offset, 4-byte identifier
COMPRESSIONS = ("none", "lz4", "lz4-high", "zstd", "zstd-high")

# one element of an EVTS packet, as stored
PACKED_EVENT = np.dtype(
    {"names": ["t", "x", "y", "on"], "formats": ["<i8", "<i2", "<i2", "u1"], "itemsize": 16}
)


@dataclass(frozen=True)
class Aedat4Header:
    """What the ``IOHE`` header of an AEDAT4 file says.

    Attributes:
        compression: one of ``COMPRESSIONS``.
        file_data_position: byte offset where packets end (a table of contents follows),
            or -1 when they run to the end of the file.
        data_start: byte offset of the first packet.
        streams: stream id -> type identifier (``"EVTS"``, ``"IMUS"``, ``"FRME"``, ...).
        event_stream: the lowest stream id of type ``EVTS``, or ``None``.
        sensor_size: ``(sizeX, sizeY, 2)`` of that stream, or ``None``.
        description: the XML text.
    """

    compression: str
    file_data_position: int
    data_start: int
    streams: dict[int, str]
    event_stream: int | None
    sensor_size: tuple[int, int, int] | None
    description: str


@dataclass(frozen=True)
class PacketEntry:
    """Where one packet lies: ``offset`` of its 8-byte header, stream id, payload size."""

    offset: int
    stream_id: int
    size: int


class _Buffer:
    """Bounds-checked little-endian reads from a flatbuffer, errors naming file offsets."""

    def __init__(self, data: bytes, base: int, path: object) -> None:
        self.data, self.base, self.path = data, base, path

    def fail(self, problem: str, at: int) -> EventFormatError:
        return EventFormatError(
            f"damaged IOHE header: {problem}", path=self.path, offset=self.base + at
        )

    def read(self, fmt: str, at: int) -> int:
        size = struct.calcsize(fmt)
        if at < 0 or at + size > len(self.data):
            raise self.fail(f"offset {at} points outside the {len(self.data)}-byte header", at)
        return struct.unpack_from(fmt, self.data, at)[0]


def _parse_ioheader(data: bytes, base: int, path: object) -> tuple[int, int, str]:
    """Return (compression, file_data_position, description) from an IOHE flatbuffer."""
    buf = _Buffer(data, base, path)
    table = buf.read("<I", 0)
    vtable = table - buf.read("<i", table)
    vtable_size = buf.read("<H", vtable)
    table_size = buf.read("<H", vtable + 2)
    if vtable_size < 4 or vtable_size % 2 or vtable + vtable_size > len(data):
        raise buf.fail(f"bad vtable size {vtable_size}", vtable)
    if table + table_size > len(data):
        raise buf.fail(f"table of {table_size} bytes runs past the header", table)

    def field(index: int, fmt: str, default: int) -> int:
        slot = 4 + 2 * index
        if slot >= vtable_size:
            return default
        offset = buf.read("<H", vtable + slot)
        if offset == 0:
            return default
        if offset + struct.calcsize(fmt) > table_size:
            raise buf.fail(f"field {index} lies outside its table", table + offset)
        return buf.read(fmt, table + offset)

    compression = field(0, "<i", 0)
    file_data_position = field(1, "<q", -1)
    slot = field(2, "<I", 0)
    if slot == 0:
        raise buf.fail("no description (the XML that lists the streams)", table)
    start = table + buf.read("<H", vtable + 8) + slot
    length = buf.read("<I", start)
    if start + 4 + length > len(data):
        raise buf.fail(f"description of {length} bytes runs past the header", start)
    try:
        description = data[start + 4 : start + 4 + length].decode("utf-8")
    except UnicodeDecodeError as error:
        raise buf.fail(f"description is not UTF-8 ({error.reason})", start + 4) from None
    return compression, file_data_position, description


def _parse_description(description: str, path: object) -> tuple[dict[int, str], dict[int, tuple]]:
    """Streams (id -> type) and event-stream sizes (id -> (W, H)) from DV's XML."""

    def fail(problem: str) -> EventFormatError:
        return EventFormatError(
            f"damaged IOHE description: {problem}", path=path, offset=HEADER_START
        )

    try:
        root = ElementTree.fromstring(description)
    except ElementTree.ParseError as error:
        raise fail(f"not valid XML ({error})") from None
    if root.tag != "dv":
        raise fail(f"root element is <{root.tag}>, expected <dv>")
    out_info = next((n for n in root.findall("node") if n.get("name") == "outInfo"), None)
    if out_info is None:
        raise fail("no outInfo node (no streams listed)")
    streams: dict[int, str] = {}
    sizes: dict[int, tuple] = {}
    for node in out_info.findall("node"):
        name = node.get("name", "")
        if not (name.isascii() and name.isdigit()):  # isdigit() alone accepts "²"
            raise fail(f"stream node name {name!r} is not a stream id")
        stream_id = int(name)
        kind = next(
            (a.text for a in node.findall("attr") if a.get("key") == "typeIdentifier"), None
        )
        if not kind:
            raise fail(f"stream {stream_id} has no typeIdentifier")
        if stream_id in streams:
            raise fail(f"stream id {stream_id} listed twice")
        streams[stream_id] = kind
        if kind == "EVTS":
            info = next((n for n in node.findall("node") if n.get("name") == "info"), None)
            values = {}
            for key in ("sizeX", "sizeY"):
                text = (
                    None
                    if info is None
                    else next((a.text for a in info.findall("attr") if a.get("key") == key), None)
                )
                digits = "" if text is None else text.strip()
                # ASCII only (isdigit() alone accepts "²"); x and y are stored as int16
                if not (digits.isascii() and digits.isdigit()) or not 0 < int(digits) <= 32768:
                    raise fail(
                        f"event stream {stream_id} has no valid info/{key} ({text!r}; "
                        "expected 1..32768)"
                    )
                values[key] = int(digits)
            sizes[stream_id] = (values["sizeX"], values["sizeY"])
    if not streams:
        raise fail("outInfo lists no streams")
    return streams, sizes


def read_header(file: BinaryIO, file_size: int, path: object) -> Aedat4Header:
    """Parse and check the magic and ``IOHE`` header at the start of ``file``."""
    magic = file.read(len(MAGIC))
    if magic != MAGIC:
        what = "file is empty" if not magic else f"starts with {magic[:14]!r}"
        raise EventFormatError(
            f"not an AEDAT4 file: expected {MAGIC!r}, {what}", path=path, offset=0
        )
    length_bytes = file.read(4)
    if len(length_bytes) < 4:
        raise EventFormatError("truncated AEDAT4 header: no header length", path=path, offset=14)
    (length,) = struct.unpack("<I", length_bytes)
    if HEADER_START + length > file_size:
        raise EventFormatError(
            f"truncated AEDAT4 header: it declares {length} bytes, the file has "
            f"{file_size - HEADER_START} left",
            path=path,
            offset=len(MAGIC),
        )
    compression, data_end, description = _parse_ioheader(file.read(length), HEADER_START, path)
    if not 0 <= compression < len(COMPRESSIONS):
        raise EventFormatError(
            f"unknown AEDAT4 compression {compression}", path=path, offset=HEADER_START
        )
    data_start = HEADER_START + length
    if data_end > file_size:
        raise EventFormatError(
            f"truncated AEDAT4 file: the header says packets run to byte {data_end}, the "
            f"file has {file_size} bytes",
            path=path,
            offset=file_size,
        )
    if data_end != -1 and data_end < data_start:
        raise EventFormatError(
            f"damaged IOHE header: file_data_position {data_end} lies before the first "
            f"packet (byte {data_start})",
            path=path,
            offset=HEADER_START,
        )
    streams, sizes = _parse_description(description, path)
    event_ids = sorted(sizes)
    event_stream = event_ids[0] if event_ids else None
    sensor = None if event_stream is None else (*sizes[event_stream], 2)
    return Aedat4Header(
        COMPRESSIONS[compression], data_end, data_start, streams, event_stream, sensor, description
    )


def scan_packets(file: BinaryIO, header: Aedat4Header, file_size: int, path: object) -> list:
    """List every packet (``PacketEntry``) after the header, checking that each one fits
    in the file and belongs to a declared stream. Reads 8 bytes per packet."""
    end = file_size if header.file_data_position == -1 else header.file_data_position
    position = header.data_start
    packets: list[PacketEntry] = []
    while position < end:
        file.seek(position)
        head = file.read(PACKET_HEADER.size)
        if position + PACKET_HEADER.size > end or len(head) < PACKET_HEADER.size:
            raise EventFormatError(
                f"truncated AEDAT4 packet header ({end - position} of 8 bytes)",
                path=path,
                offset=position,
            )
        stream_id, size = PACKET_HEADER.unpack(head)
        if stream_id not in header.streams:
            raise EventFormatError(
                f"packet of undeclared stream {stream_id} (declared: {sorted(header.streams)})",
                path=path,
                offset=position,
            )
        if position + PACKET_HEADER.size + size > end:
            raise EventFormatError(
                f"truncated AEDAT4 packet: it declares {size} bytes, "
                f"{end - position - PACKET_HEADER.size} remain",
                path=path,
                offset=position,
            )
        if header.compression == "none" and size < MIN_PACKET:
            # the aedat decoder would panic on it (flatbuffers asserts the prefix length)
            raise EventFormatError(
                f"AEDAT4 packet of {size} bytes, shorter than a flatbuffer's {MIN_PACKET}-byte "
                "prefix (size, root offset, identifier)",
                path=path,
                offset=position,
            )
        packets.append(PacketEntry(position, stream_id, size))
        position += PACKET_HEADER.size + size
    return packets


def description_xml(width: int, height: int, stream_id: int = 0) -> str:
    """A minimal DV description declaring one ``EVTS`` stream of a ``width x height`` sensor."""
    return (
        '<dv version="2.0"><node name="outInfo" path="/mainloop/output_file/outInfo/">'
        f'<node name="{stream_id}" path="/mainloop/output_file/outInfo/{stream_id}/">'
        '<attr key="compression" type="string">NONE</attr>'
        '<attr key="typeIdentifier" type="string">EVTS</attr>'
        f'<node name="info" path="/mainloop/output_file/outInfo/{stream_id}/info/">'
        f'<attr key="sizeX" type="int">{width}</attr>'
        f'<attr key="sizeY" type="int">{height}</attr>'
        '<attr key="source" type="string">snn-transfer</attr>'
        "</node></node></node></dv>"
    )


def ioheader_bytes(description: str, compression: int = 0, file_data_position: int = -1) -> bytes:
    """The ``IOHE`` flatbuffer (without its u32 length) for the given fields."""
    text = description.encode("utf-8")
    # 0: root offset, 4: identifier, 8: vtable (10 bytes + 6 padding), 24: table
    vtable = struct.pack("<HHHHH", 10, 20, 4, 8, 16) + bytes(6)
    table = struct.pack("<iiqI", 24 - 8, compression, file_data_position, 44 - 40)
    string = struct.pack("<I", len(text)) + text + b"\0"
    body = struct.pack("<I", 24) + b"IOHE" + vtable + table + string
    return body + bytes(-len(body) % 4)


def event_packet_bytes(events: np.ndarray) -> bytes:
    """A size-prefixed ``EVTS`` flatbuffer holding ``events`` (fields t, x, y, p).

    Layout after the 4-byte size prefix: root offset, ``EVTS``, vtable (6 bytes + 2
    padding), table (vtable offset, vector offset), vector length, elements. The elements
    start 32 bytes into the packet, which keeps them 8-byte aligned as readers require.
    """
    packed = np.zeros(len(events), dtype=PACKED_EVENT)
    for field, source in (("t", "t"), ("x", "x"), ("y", "y"), ("on", "p")):
        packed[field] = events[source]
    body = (
        struct.pack("<I", 16)
        + b"EVTS"
        + struct.pack("<HHH", 6, 8, 4)
        + bytes(2)
        + struct.pack("<iI", 16 - 8, 4)
        + struct.pack("<I", len(events))
        + packed.tobytes()
    )
    return struct.pack("<I", len(body)) + body
