"""The registry of event-file formats, format detection, and the generic entry points.

``FORMATS`` maps a format name to an ``EventFormat`` (reader, chunk iterator, writer,
extensions, magic bytes). Everything generic (``read_events``, ``iter_events``,
``write_events``, ``detect_format``, ``describe``) goes through it; adding a format means
adding one entry here.

Detection: a file's first bytes are matched against each format's magic; where several
formats share one (Prophesee ``.dat`` and ``.raw`` files all start with ``% ``), the
format's ``claims`` looks at the header to decide. Without a magic match the extension
decides, unless several formats use it (``.raw``: EVT 2.0 or EVT 3.0), which is an error
asking for ``format=``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snn_transfer.errors import EventFormatError
from snn_transfer.events.core import SensorSize
from snn_transfer.events.io import (
    aedat2,
    aedat4,
    atis,
    gesture,
    hdf5,
    mat,
    prophesee_dat,
    prophesee_header,
    prophesee_raw,
)
from snn_transfer.events.io.base import EventRecording, PathLike, check_readable

DEFAULT_CHUNK_SIZE = 1 << 20


@dataclass(frozen=True)
class EventFormat:
    """One supported file format.

    Attributes:
        name: the name used by ``format=`` and ``--format``.
        description: one line for help texts and error messages.
        extensions: file name endings (lower case, with the dot) that suggest this format.
        magic: byte prefixes that identify it (checked before the extension); empty for
            headerless formats.
        read: ``read(path, *, sensor_size=None) -> EventRecording``.
        iterate: ``iterate(path, chunk_size, *, sensor_size=None)`` yielding ``EVENT_DTYPE``
            arrays of at most ``chunk_size`` events.
        write: ``write(path, events, sensor_size)``, or ``None`` for formats we only read.
        declared_sensor: ``declared_sensor(path)`` -> the ``(W, H, P)`` the file or format
            declares, or ``None``; reads at most the header.
        claims: ``claims(path)`` -> whether a file whose magic matched is of this format
            (for formats that share a magic); ``None``: the magic alone decides.
    """

    name: str
    description: str
    extensions: tuple[str, ...]
    magic: tuple[bytes, ...]
    read: Callable[..., EventRecording]
    iterate: Callable[..., Iterator[np.ndarray]]
    write: Callable[..., None] | None
    declared_sensor: Callable[[Path], SensorSize | None]
    claims: Callable[[Path], bool] | None = None


FORMATS: dict[str, EventFormat] = {
    f.name: f
    for f in (
        EventFormat(
            "atis",
            "ATIS 40-bit .bin (N-MNIST, N-Caltech101)",
            (".bin",),
            (),
            atis.read_atis,
            atis.iter_atis,
            atis.write_atis,
            lambda path: None,
        ),
        EventFormat(
            "aedat4",
            "AEDAT 4.0 (DV; CIFAR10-DVS as Tonic ships it, N-Omniglot)",
            (".aedat4",),
            (aedat4.MAGIC,),
            aedat4.read_aedat4,
            aedat4.iter_aedat4,
            aedat4.write_aedat4,
            lambda path: aedat4.read_aedat4_header(path)[0].sensor_size,
        ),
        EventFormat(
            "aedat2",
            "AEDAT 2.0 from jAER: DVS128 (original CIFAR10-DVS release) or DAVIS polarity "
            "events (reads both, writes DVS128)",
            (".aedat",),
            (b"#!AER-DAT2.",),
            aedat2.read_aedat2,
            aedat2.iter_aedat2,
            aedat2.write_aedat2,
            aedat2.declared_sensor_size,
        ),
        EventFormat(
            "gesture-npy",
            "DVS128 Gesture [N, 4] .npy (x, y, p, t_ms) as Tonic ships it",
            (".npy",),
            (b"\x93NUMPY",),
            gesture.read_gesture_npy,
            gesture.iter_gesture_npy,
            gesture.write_gesture_npy,
            lambda path: gesture.SENSOR_SIZE,
        ),
        EventFormat(
            "hdf5",
            "snn-transfer HDF5 (kind 'events'; describe also reads other kinds)",
            (".h5", ".hdf5"),
            (hdf5.MAGIC,),
            hdf5.read_hdf5_events,
            hdf5.iter_hdf5_events,
            hdf5.write_hdf5_events,
            hdf5.declared_sensor_size,
        ),
        EventFormat(
            "prophesee-dat",
            "Prophesee .dat CD events (N-CARS, Gen1 automotive; read only)",
            (".dat",),
            (prophesee_header.MAGIC,),
            prophesee_dat.read_prophesee_dat,
            prophesee_dat.iter_prophesee_dat,
            None,
            prophesee_dat.declared_sensor_size,
            lambda path: (
                prophesee_header.raw_encoding(path) is None and path.suffix.lower() != ".raw"
            ),
        ),
        EventFormat(
            "evt2",
            "Prophesee EVT 2.0 .raw (read only)",
            (".raw",),
            (prophesee_header.MAGIC,),
            prophesee_raw.read_evt2,
            prophesee_raw.iter_evt2,
            None,
            prophesee_raw.declared_sensor_size,
            lambda path: prophesee_header.raw_encoding(path) == "evt2",
        ),
        EventFormat(
            "evt3",
            "Prophesee EVT 3.0 .raw (read only)",
            (".raw",),
            (prophesee_header.MAGIC,),
            prophesee_raw.read_evt3,
            prophesee_raw.iter_evt3,
            None,
            prophesee_raw.declared_sensor_size,
            lambda path: prophesee_header.raw_encoding(path) == "evt3",
        ),
        EventFormat(
            "stmnist-mat",
            "MATLAB 5 .mat in the ST-MNIST layout (read only)",
            (".mat",),
            (mat.MAGIC, mat.MAGIC_73),
            mat.read_stmnist_mat,
            mat.iter_stmnist_mat,
            None,
            lambda path: mat.SENSOR_SIZE,
        ),
    )
}

# headers of formats we recognise but cannot read, to say so instead of guessing
_UNSUPPORTED_MAGIC = {
    b"#!AER-DAT3.": "AEDAT 3.x (not supported: convert it to AEDAT 4 with DV)",
    b"#!AER-DAT1.": "AEDAT 1.0 (not supported)",
}


def _supported() -> str:
    return "; ".join(f"{f.name}: {f.description}" for f in FORMATS.values())


def get_format(name: str) -> EventFormat:
    """The ``EventFormat`` called ``name``, or ``EventFormatError`` listing the names."""
    try:
        return FORMATS[name]
    except KeyError:
        raise EventFormatError(
            f"unknown format {name!r}; choose one of: {', '.join(FORMATS)}"
        ) from None


def detect_format(path: PathLike) -> str:
    """Name of the format of ``path``: by magic bytes first, by extension second.

    Raises:
        EventFileNotFoundError: the file does not exist.
        EventFormatError: nothing matches; the message lists the supported formats and how
            to force one (``format=`` / ``--format``).
    """
    path = check_readable(path)
    with open(path, "rb") as file:
        head = file.read(64)
    for prefix, what in _UNSUPPORTED_MAGIC.items():
        if head.startswith(prefix):
            raise EventFormatError(f"{what}", path=path, offset=0)
    matched = [f for f in FORMATS.values() if any(head.startswith(m) for m in f.magic)]
    for fmt in matched:
        if fmt.claims is None or fmt.claims(path):
            return fmt.name
    suffix = path.suffix.lower()
    by_extension = [f.name for f in FORMATS.values() if suffix in f.extensions]
    if len(by_extension) == 1:
        return by_extension[0]
    if by_extension:
        raise EventFormatError(
            f"a {suffix} file can be {' or '.join(by_extension)} and the header does not say "
            f"which; pass it: format='{by_extension[0]}' in Python or --format "
            f"{by_extension[0]} on the command line",
            path=path,
        )
    raise EventFormatError(
        f"unknown event file format (no known header, extension {suffix or 'none'!r}); "
        f"supported formats are {_supported()}. If you know the format, pass it: "
        "format='atis' in Python or --format atis on the command line",
        path=path,
    )


def format_of(path: PathLike, format: str | None) -> EventFormat:
    """The ``EventFormat`` named ``format``, or detected from the file when None."""
    return get_format(format) if format is not None else get_format(detect_format(path))


def read_events(
    path: PathLike, format: str | None = None, *, sensor_size: SensorSize | None = None
) -> EventRecording:
    """Read a whole event file.

    Args:
        path: the file.
        format: a name in ``FORMATS``, or ``None`` to detect it (``detect_format``).
        sensor_size: ``(W, H, P)`` to check coordinates against, replacing the size the
            file declares (``None``: use the declared one, or check only for negatives).

    Returns:
        ``EventRecording`` with ``[N]`` time-sorted ``EVENT_DTYPE`` events (t in us).

    Raises:
        EventFileNotFoundError: the file does not exist (also a ``FileNotFoundError``).
        EventFormatError: unknown format, damaged or truncated file, events outside the
            sensor or out of time order; the message names the file and the byte offset or
            event index.
    """
    return format_of(path, format).read(path, sensor_size=sensor_size)


def iter_events(
    path: PathLike,
    format: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    *,
    sensor_size: SensorSize | None = None,
) -> Iterator[np.ndarray]:
    """Yield a file's events in ``EVENT_DTYPE`` chunks of at most ``chunk_size`` events.

    Memory stays bounded by the chunk size (plus one AEDAT4 packet), so files larger than
    memory can be processed. The concatenated chunks equal ``read_events(path).events``,
    and the same checks apply (errors name the event index in the whole file).
    """
    return format_of(path, format).iterate(path, chunk_size, sensor_size=sensor_size)


def write_events(
    path: PathLike, events: np.ndarray, format: str, sensor_size: SensorSize | None = None
) -> Path:
    """Write ``events`` (``EVENT_DTYPE`` or convertible, time-sorted) to ``path`` in
    ``format``, through a temporary ``<name>.partial`` renamed into place. Formats that
    need a sensor size (aedat4) require ``sensor_size``; the others check events against
    it when given. Returns the path."""
    fmt = get_format(format)
    if fmt.write is None:
        writable = ", ".join(f.name for f in FORMATS.values() if f.write is not None)
        raise EventFormatError(
            f"the {format} format is read, not written; write one of: {writable}", path=path
        )
    fmt.write(path, events, sensor_size)
    return Path(path)
