"""What every event-file reader and writer shares.

* ``EventRecording``: the value a reader returns (events, sensor size, format, path).
* ``EventFileNotFoundError``: the error for a path that does not exist. It is both an
  ``EventFormatError`` (so ``snn-events`` prints it as a one-line error) and a
  ``FileNotFoundError`` (so ``except FileNotFoundError`` works as usual).
* ``StreamChecker``: validates a stream chunk by chunk, with event indices and byte offsets
  counted over the whole file.
* ``read_bytes``: a whole file in one open, stat and read, with ``check_readable``'s errors
  (for small recordings the checks would cost more than the read).

Writers write through ``snn_transfer.atomic.atomic_output``: a crash never leaves a
half-written file under the final name.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snn_transfer.errors import EventFormatError
from snn_transfer.events.core import EVENT_DTYPE, SensorSize, as_events, validate_events

PathLike = str | os.PathLike


class EventFileNotFoundError(EventFormatError, FileNotFoundError):
    """The event file does not exist. Catchable as ``FileNotFoundError`` too."""

    def __init__(self, path: PathLike) -> None:
        super().__init__("no such file (check the path)", path=path)
        self.errno = errno.ENOENT
        self.strerror = "No such file or directory"
        self.filename = str(path)

    def __str__(self) -> str:
        # OSError would print "[Errno 2] ..."; keep the package's "<path>: <problem>" form
        return BaseException.__str__(self)


@dataclass(frozen=True)
class EventRecording:
    """One event stream read from a file.

    Attributes:
        events: structured array of ``EVENT_DTYPE`` (x, y int16; t int64 microseconds;
            p int8 in {0, 1}), shape ``[N]``, time-sorted.
        sensor_size: ``(W, H, P)`` the file declares (or the caller passed), ``None`` when the
            format does not declare one (ATIS ``.bin``).
        format: name of the format in ``FORMATS`` (``"atis"``, ``"aedat4"``, ...).
        path: the file the events came from.
    """

    events: np.ndarray
    sensor_size: SensorSize | None
    format: str
    path: Path

    def __len__(self) -> int:
        return len(self.events)


def check_readable(path: PathLike) -> Path:
    """Return ``path`` as a ``Path`` if it is an existing regular file, else raise.

    Raises ``EventFileNotFoundError`` for a missing path and ``EventFormatError`` for a
    directory, another non-file, or a file that cannot be opened (permissions).
    """
    path = Path(path)
    if not path.exists():
        raise EventFileNotFoundError(path)
    if not path.is_file():
        raise EventFormatError("not a regular file (a directory?); pass an event file", path=path)
    try:
        open(path, "rb").close()
    except OSError as error:
        raise EventFormatError(f"cannot open the file: {error.strerror}", path=path) from None
    return path


#: open flags of ``read_bytes``: a FIFO opened without O_NONBLOCK would wait for a writer
_READ_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def read_bytes(path: PathLike) -> tuple[Path, np.ndarray]:
    """``path`` as a ``Path`` and the file's whole content as a read-only uint8 array.

    Raises what :func:`check_readable` raises (missing file, not a regular file, cannot be
    opened), after one open and one stat instead of its four system calls.
    """
    try:
        fd = os.open(path, _READ_FLAGS)  # before Path(): opening a str is the cheaper call
    except OSError as error:
        check_readable(path)  # raises the error that says why
        raise EventFormatError(f"cannot open the file: {error.strerror}", path=path) from None
    path = Path(path)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise EventFormatError(
                "not a regular file (a directory?); pass an event file", path=path
            )
        data = os.read(fd, info.st_size)
        if len(data) < info.st_size:  # a read returns at most about 2 GiB
            parts = [data]
            while part := os.read(fd, info.st_size - sum(map(len, parts))):
                parts.append(part)
            data = b"".join(parts)
    finally:
        os.close(fd)
    return path, np.frombuffer(data, np.uint8)


def normalise_sensor_size(sensor_size: object) -> SensorSize | None:
    """``(W, H, P)`` as a tuple of three positive ints, or ``None``."""
    if sensor_size is None:
        return None
    try:
        size = tuple(int(v) for v in sensor_size)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        size = ()
    if len(size) != 3 or min(size) <= 0:
        raise EventFormatError(
            f"sensor_size must be three positive ints (W, H, P), got {sensor_size!r}"
        )
    return size  # type: ignore[return-value]


def events_for_writing(events: np.ndarray, sensor_size: SensorSize | None) -> np.ndarray:
    """Check events before a writer encodes them: ``EVENT_DTYPE``, inside the sensor, sorted."""
    events = as_events(np.asarray(events))
    validate_events(events, normalise_sensor_size(sensor_size), sorted_time=True)
    return events


class StreamChecker:
    """Validate consecutive chunks of one stream as if they were one array.

    Checks what ``validate_events`` checks (coordinates and polarity inside ``sensor_size``,
    non-negative, non-decreasing timestamps), across chunk borders too. Errors name the
    file, the event index in the whole stream and, when ``offset_of`` is given (it maps an
    event index to the byte offset of its record), the byte offset.
    """

    def __init__(
        self,
        path: PathLike,
        sensor_size: SensorSize | None,
        offset_of: Callable[[int], int | None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.sensor_size = sensor_size
        self.offset_of = offset_of
        self.count = 0
        self.last_t: int | None = None

    def _raise(self, problem: str, index: int) -> None:
        offset = None if self.offset_of is None else self.offset_of(index)
        raise EventFormatError(problem, path=self.path, offset=offset, index=index)

    def check(self, events: np.ndarray) -> np.ndarray:
        """Validate the next chunk (``EVENT_DTYPE``) and return it unchanged."""
        if len(events) == 0:
            return events
        try:
            validate_events(events, self.sensor_size, sorted_time=False)
        except EventFormatError as error:
            self._raise(error.problem, self.count + (error.index or 0))
        t = events["t"]
        if self.last_t is None and t[0] < 0:
            self._raise(f"negative timestamp {int(t[0])} us", self.count)
        previous = int(t[0]) if self.last_t is None else self.last_t
        if t[0] < previous or bool(np.any(t[1:] < t[:-1])):
            # compare, not np.diff: the difference of far-apart int64 timestamps overflows
            before_t = np.concatenate((np.array([previous], dtype=t.dtype), t[:-1]))
            i = int(np.flatnonzero(t < before_t)[0])
            before = previous if i == 0 else int(t[i - 1])
            self._raise(
                f"timestamp goes back in time ({before} -> {int(t[i])} us); this format "
                "stores events time-sorted, so the file is damaged",
                self.count + i,
            )
        self.last_t = int(t[-1])
        self.count += len(events)
        return events


def rechunk(chunks: Iterator[np.ndarray], chunk_size: int) -> Iterator[np.ndarray]:
    """Regroup arrays of any sizes into arrays of exactly ``chunk_size`` (the last may be
    shorter). Memory: at most about two chunks plus one input array."""
    pending: list[np.ndarray] = []
    held = 0
    for chunk in chunks:
        while len(chunk):
            take = min(chunk_size - held, len(chunk))
            pending.append(chunk[:take])
            held += take
            chunk = chunk[take:]
            if held == chunk_size:
                yield np.concatenate(pending) if len(pending) > 1 else pending[0]
                pending, held = [], 0
    if held:
        yield np.concatenate(pending) if len(pending) > 1 else pending[0]


def check_chunk_size(chunk_size: int) -> int:
    """Return ``chunk_size`` as a positive int or raise ``ValueError``."""
    if int(chunk_size) != chunk_size or chunk_size < 1:
        raise ValueError(f"chunk size must be a positive integer, got {chunk_size!r}")
    return int(chunk_size)


@dataclass
class CounterUnwrap:
    """Unwrap a hardware time counter that wraps every ``period`` microseconds, chunk by chunk.

    A drop of at least ``min_drop`` (default: more than half the period) between consecutive
    values is read as a wrap and adds ``period`` to every later value; smaller drops are left
    for the stream checks to report as damage. ``wraps`` and ``last`` carry the state across
    chunks.
    """

    period: int
    min_drop: int | None = None
    wraps: int = 0
    last: int | None = None

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        """``raw`` counter values (any unsigned integer dtype) unwrapped: ``raw`` itself
        while nothing has wrapped (callers assign it into int64 fields), else int64."""
        if len(raw) == 0:
            return raw
        first_drop = self.last is not None and int(raw[0]) < self.last
        if not self.wraps and not first_drop and not bool(np.any(raw[1:] < raw[:-1])):
            self.last = int(raw[-1])
            return raw  # the common case: no decrease at all, no copy
        t = raw.astype(np.int64)
        before = np.empty_like(t)
        before[0] = t[0] if self.last is None else self.last
        before[1:] = t[:-1]
        min_drop = self.period // 2 + 1 if self.min_drop is None else self.min_drop
        wrapped = (before - t) >= min_drop
        self.last = int(t[-1])
        if self.wraps or wrapped.any():
            count = np.cumsum(wrapped, dtype=np.int64) + self.wraps
            t += count * self.period
            self.wraps = int(count[-1])
        return t


def empty_events() -> np.ndarray:
    """A zero-length ``EVENT_DTYPE`` array."""
    return np.empty(0, dtype=EVENT_DTYPE)
