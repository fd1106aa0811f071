"""The text header of Prophesee files (``.dat`` CD files and EVT 2.0 / EVT 3.0 ``.raw``).

Both start with ASCII lines of the form ``% <keyword> <value>`` (``%`` and a space), each
ended by ``\\n``; an optional ``% end`` line closes the header. Binary data starts at the
first line that does not start with ``% `` (or right after ``% end``). Keywords we use:

* ``format EVT3;height=720;width=1280`` (recent ``.raw``): the encoding and the geometry;
* ``evt 3.0`` / ``evt 2.0`` (``.raw``): the encoding;
* ``geometry 1280x720`` (``.raw``): width x height;
* ``Height 240`` / ``Width 304`` (``.dat`` from the Gen1 automotive dataset and newer);
* ``Version 2`` (``.dat``).

N-CARS ``.dat`` files declare no size (their recordings are crops of a 304x240 ATIS; the
sample in Tonic's test data spans x 0..77, y 0..41).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from snn_transfer.errors import EventFormatError
from snn_transfer.events.core import SensorSize

MAGIC = b"% "
END = "end"
MAX_HEADER_BYTES = 1 << 20
MAX_SIDE = 1 << 15  # int16 coordinates
ENCODINGS = {"2.0": "evt2", "3.0": "evt3", "EVT2": "evt2", "EVT3": "evt3"}


@dataclass(frozen=True)
class PropheseeHeader:
    """A parsed ``%`` header.

    Attributes:
        data_start: byte offset of the first byte after the header.
        lines: the header lines without ``% `` and the line ending.
        keys: ``keyword -> value`` for every ``% keyword value`` line (later lines win).
        width, height: the declared geometry, or ``None``.
        encoding: ``"evt2"`` / ``"evt3"`` from ``evt`` or ``format``, the raw declared value
            for other encodings (``"2.1"``, ``"EVT21"``, ...), or ``None`` if undeclared.
    """

    data_start: int
    lines: tuple[str, ...]
    keys: dict[str, str]
    width: int | None
    height: int | None
    encoding: str | None

    @property
    def sensor_size(self) -> SensorSize | None:
        if self.width is None or self.height is None:
            return None
        return (self.width, self.height, 2)


def _side(text: str, what: str, path: Path, offset: int) -> int:
    text = text.strip()
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= MAX_SIDE:
        raise EventFormatError(
            f"the header's {what} {text!r} is not a size in 1..{MAX_SIDE}",
            path=path,
            offset=offset,
        )
    return int(text)


def parse_header(data: bytes, path: Path) -> PropheseeHeader:
    """Parse the header at the start of ``data`` (the file's first bytes; at most
    ``MAX_HEADER_BYTES`` are looked at).

    Raises:
        EventFormatError: a header line without its end of line (truncated file), a
            header longer than ``MAX_HEADER_BYTES``, or a malformed geometry.
    """
    lines: list[str] = []
    keys: dict[str, str] = {}
    width = height = None
    encoding = None
    position = 0
    while data.startswith(MAGIC, position):
        end = data.find(b"\n", position, position + MAX_HEADER_BYTES)
        if end < 0:
            what = "longer than 1 MiB" if len(data) > MAX_HEADER_BYTES else "truncated"
            raise EventFormatError(
                f"{what} Prophesee header: a '% ' line has no end of line",
                path=path,
                offset=position,
            )
        text = data[position + 2 : end].rstrip(b"\r").decode("latin-1")
        line_at, position = position, end + 1
        lines.append(text)
        key, _, value = text.strip().partition(" ")
        if key == END and not value:
            break
        keys[key] = value.strip()
        if key in ("Height", "Width"):
            side = _side(value, key, path, line_at)
            height, width = (side, width) if key == "Height" else (height, side)
        elif key == "geometry":
            w, sep, h = value.strip().partition("x")
            if not sep:
                raise EventFormatError(
                    f"the header's geometry {value.strip()!r} is not WIDTHxHEIGHT",
                    path=path,
                    offset=line_at,
                )
            width, height = _side(w, "width", path, line_at), _side(h, "height", path, line_at)
        elif key == "format":
            name, *params = value.strip().split(";")
            encoding = ENCODINGS.get(name, name)
            for param in params:
                what, _, number = param.partition("=")
                if what in ("width", "height"):
                    side = _side(number, what, path, line_at)
                    width, height = (side, height) if what == "width" else (width, side)
        elif key == "evt" and encoding is None:
            encoding = ENCODINGS.get(value.strip(), value.strip())
    return PropheseeHeader(position, tuple(lines), keys, width, height, encoding)


def read_header(path: Path) -> PropheseeHeader:
    """Parse the header of the file at ``path`` (reads at most ``MAX_HEADER_BYTES + 1``).

    Raises ``EventFormatError`` for an empty (0-byte) file: Prophesee files have at least a
    header or data, so nothing at all is a failed copy, not an empty recording.
    """
    with open(path, "rb") as file:
        data = file.read(MAX_HEADER_BYTES + 1)
    if not data:
        raise EventFormatError(
            "the file is empty (0 bytes); a Prophesee recording has a '% ' header or "
            "data: copy it again",
            path=path,
            offset=0,
        )
    return parse_header(data, path)


def raw_encoding(path: Path) -> str | None:
    """``"evt2"``/``"evt3"`` (or another declared encoding) of a ``%``-header file, ``None``
    if it declares none (for format detection; a damaged header raises, naming its
    offset, rather than leaving the format to the extension)."""
    return read_header(path).encoding
