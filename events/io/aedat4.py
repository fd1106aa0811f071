"""AEDAT 4.0 files (``.aedat4``: DV recordings, CIFAR10-DVS as repackaged by Tonic,
N-Omniglot).

Reading goes through the ``aedat`` package (imported when called), which decompresses LZ4
and Zstd packets. Before handing the file to it we check the header and the packet framing
ourselves, so that damage is reported with a byte offset and never reaches the decoder as
an out-of-bounds length. The first (lowest id) ``EVTS`` stream is read; its sensor size is
``(sizeX, sizeY, 2)`` from the header (``aedat.Decoder.id_to_stream()`` exposes the same
as ``width`` / ``height``). Timestamps are kept as stored: microseconds, usually Unix
time, so they start near 1.6e15 rather than 0.

A file without the AEDAT4 header (including an empty file) is an error; a valid header
with no event packets is an empty stream. Events must be time-sorted.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from snn_transfer.atomic import atomic_output
from snn_transfer.errors import EventFormatError
from snn_transfer.events.core import EVENT_DTYPE, SensorSize
from snn_transfer.events.io.aedat4_layout import (
    MAGIC,
    PACKET_HEADER,
    Aedat4Header,
    PacketEntry,
    description_xml,
    event_packet_bytes,
    ioheader_bytes,
    read_header,
    scan_packets,
)
from snn_transfer.events.io.base import (
    EventRecording,
    PathLike,
    StreamChecker,
    check_chunk_size,
    check_readable,
    empty_events,
    events_for_writing,
    normalise_sensor_size,
    rechunk,
)

DEFAULT_PACKET_EVENTS = 8192


def read_aedat4_header(path: PathLike) -> tuple[Aedat4Header, list[PacketEntry]]:
    """Check an AEDAT4 file's header and packet framing without decoding any packet.

    Returns:
        the parsed header and the list of packets (offset, stream id, size).
    """
    path = check_readable(path)
    size = path.stat().st_size
    with open(path, "rb") as file:
        header = read_header(file, size, path)
        packets = scan_packets(file, header, size, path)
    return header, packets


def _to_events(packed: np.ndarray) -> np.ndarray:
    """``aedat``'s ``(t u8, x u2, y u2, on bool)`` records as ``EVENT_DTYPE``.

    The casts wrap values the file stored as negative (x, y are i16 and t is i64 there)
    back to negative numbers, which the stream checks then report.
    """
    events = np.empty(len(packed), dtype=EVENT_DTYPE)
    events["x"] = packed["x"].view(np.int16)
    events["y"] = packed["y"].view(np.int16)
    events["t"] = packed["t"].view(np.int64)
    events["p"] = packed["on"]
    return events


def _decoded_packets(path, header: Aedat4Header, packets: list) -> Iterator[np.ndarray]:
    """Yield the event arrays of the chosen stream, packet by packet, via ``aedat``."""
    import aedat

    def failure(error: BaseException, index: int) -> EventFormatError:
        where = packets[index].offset if index < len(packets) else None
        kind = "crashed" if type(error).__name__ == "PanicException" else "failed"
        return EventFormatError(
            f"the aedat decoder {kind} on packet {index}: {error}", path=path, offset=where
        )

    try:
        decoder = aedat.Decoder(str(path))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # Rust panics are BaseException, not Exception
        raise EventFormatError(f"the aedat decoder rejected the file: {error}", path=path) from None
    index = 0
    while True:
        try:
            packet = next(decoder, None)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as error:
            raise failure(error, index) from None
        if packet is None:
            break
        if index >= len(packets) or packet["stream_id"] != packets[index].stream_id:
            raise EventFormatError(
                f"the aedat decoder and the packet scan disagree at packet {index}",
                path=path,
                offset=packets[index].offset if index < len(packets) else None,
            )
        if packet["stream_id"] == header.event_stream:
            yield _to_events(packet["events"])
        index += 1
    if index != len(packets):
        raise EventFormatError(
            f"the aedat decoder stopped after {index} of {len(packets)} packets",
            path=path,
            offset=packets[index].offset,
        )


def _open(path, sensor_size) -> tuple:
    header, packets = read_aedat4_header(path)
    if header.event_stream is None:
        raise EventFormatError(
            f"no EVTS event stream in this AEDAT4 file (streams: {header.streams})", path=path
        )
    size = normalise_sensor_size(sensor_size) or header.sensor_size
    return header, packets, size


def read_aedat4(path: PathLike, *, sensor_size: SensorSize | None = None) -> EventRecording:
    """Read the first event stream of an AEDAT4 file.

    Args:
        path: the ``.aedat4`` file.
        sensor_size: ``(W, H, P)`` to check against instead of the header's
            ``(sizeX, sizeY, 2)``.

    Returns:
        ``EventRecording``: ``[N]`` ``EVENT_DTYPE`` events (t in microseconds as stored),
        sensor size from the header (or the one given).

    Raises:
        EventFormatError: wrong or damaged header, truncated packet, decoder failure, events
            outside the sensor or out of time order (message names offset or index).
    """
    path = check_readable(path)
    header, packets, size = _open(path, sensor_size)
    chunks = list(_decoded_packets(path, header, packets))
    events = np.concatenate(chunks) if chunks else empty_events()
    StreamChecker(path, size).check(events)
    return EventRecording(events, size, "aedat4", path)


def iter_aedat4(
    path: PathLike, chunk_events: int = 1 << 20, *, sensor_size: SensorSize | None = None
) -> Iterator[np.ndarray]:
    """Yield the first event stream of an AEDAT4 file in chunks of at most ``chunk_events``
    ``EVENT_DTYPE`` events (memory: about one chunk plus one packet)."""
    path = check_readable(path)
    chunk_events = check_chunk_size(chunk_events)
    header, packets, size = _open(path, sensor_size)
    checker = StreamChecker(path, size)
    for chunk in rechunk(_decoded_packets(path, header, packets), chunk_events):
        yield checker.check(chunk)


def write_aedat4(
    path: PathLike,
    events: np.ndarray,
    sensor_size: SensorSize | None = None,
    *,
    packet_events: int = DEFAULT_PACKET_EVENTS,
) -> None:
    """Write events as an uncompressed AEDAT4 file with one ``EVTS`` stream (id 0).

    Args:
        events: ``EVENT_DTYPE`` (or convertible), time-sorted, inside ``sensor_size``.
        sensor_size: ``(W, H, P)``; W and H become the header's sizeX / sizeY. Required.
        packet_events: events per packet (the last packet may hold fewer).
    """
    size = normalise_sensor_size(sensor_size)
    if size is None:
        raise EventFormatError("AEDAT4 files declare the sensor size: pass sensor_size=(W, H, P)")
    if size[0] > 32767 or size[1] > 32767:
        raise EventFormatError(f"AEDAT4 stores x and y as int16; sensor {size} is too large")
    events = events_for_writing(events, size)
    packet_events = check_chunk_size(packet_events)
    header = ioheader_bytes(description_xml(size[0], size[1]))
    with atomic_output(path) as partial, open(partial, "wb") as file:
        file.write(MAGIC + len(header).to_bytes(4, "little") + header)
        for start in range(0, len(events), packet_events):
            packet = event_packet_bytes(events[start : start + packet_events])
            file.write(PACKET_HEADER.pack(0, len(packet)) + packet)
