"""Damaged files: truncated and bit-flipped copies of every format (fakes and the real
samples) either read as a valid stream or raise EventFormatError; nothing else escapes."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLES
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_io_fakes import FAKES, write_fake

from snn_transfer.errors import EventFormatError
from snn_transfer.events.core import EVENT_DTYPE
from snn_transfer.events.io import iter_events, read_events

FUZZ = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
REAL = {
    "real-nmnist": ("atis", "sample_nmnist.bin"),
    "real-aedat4": ("aedat4", "sample.aedat4"),
    "real-aedat2-header": ("aedat2", "sample_aedat_header.aedat"),
}
# where each file's structure lives: flips there hit headers, vtables, lengths
HEAD_BYTES = 512


@functools.cache
def fake_bytes(format: str) -> bytes:
    with tempfile.TemporaryDirectory() as directory:
        path, _ = write_fake(Path(directory), format, np.random.default_rng(7), n=300)
        return path.read_bytes()


def base_bytes(name: str) -> tuple[str, bytes]:
    if name in FAKES:
        return name, fake_bytes(name)
    format, file = REAL[name]
    path = SAMPLES / file
    if not path.exists():
        pytest.skip(f"real sample {file} not found in {SAMPLES}: run scripts/fetch_samples.sh")
    return format, path.read_bytes()


truncations = st.tuples(st.just("truncate"), st.floats(0, 1, exclude_max=True))
flips = st.tuples(
    st.sampled_from(["flip-anywhere", "flip-head"]),
    st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 7)), min_size=1, max_size=8
    ),
)


def mutate(data: bytes, mutation: tuple) -> bytes:
    kind, spec = mutation
    if kind == "truncate":
        return data[: int(spec * len(data))]
    damaged = bytearray(data)
    span = min(len(data), HEAD_BYTES) if kind == "flip-head" else len(data)
    for where, bit in spec:
        damaged[int(where * span)] ^= 1 << bit
    return bytes(damaged)


def outcome(call):
    """``("ok", value)`` or ``("error", EventFormatError)``; any other exception fails."""
    try:
        return "ok", call()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # Rust panics are BaseException: they must not escape
        assert isinstance(error, EventFormatError), f"{type(error).__name__} escaped: {error}"
        return "error", error


def assert_valid_stream(events: np.ndarray, sensor_size) -> None:
    assert events.dtype == EVENT_DTYPE
    if len(events) == 0:
        return
    for field in "xyp":
        assert events[field].min() >= 0
    if sensor_size is not None:
        assert events["x"].max() < sensor_size[0]
        assert events["y"].max() < sensor_size[1]
        assert events["p"].max() < sensor_size[2]
    assert events["t"][0] >= 0 and np.all(np.diff(events["t"]) >= 0)


@pytest.mark.parametrize("name", [*sorted(FAKES), *REAL])
@FUZZ
@given(mutation=st.one_of(truncations, flips))
def test_damaged_files_read_validly_or_raise_event_format_error(tmp_path, name, mutation):
    format, data = base_bytes(name)
    path = tmp_path / f"damaged{Path(FAKES.get(format, ('x.bin',))[0]).suffix}"
    path.write_bytes(mutate(data, mutation))

    status, result = outcome(lambda: read_events(path, format=format))
    event(f"{mutation[0]}: {status}")
    if status == "error":
        assert str(path) in str(result)
    else:
        assert_valid_stream(result.events, result.sensor_size)

    chunked_status, chunks = outcome(lambda: list(iter_events(path, format, chunk_size=97)))
    assert chunked_status == status
    if status == "ok":
        assert all(0 < len(c) <= 97 for c in chunks)
        joined = np.concatenate(chunks) if chunks else np.empty(0, EVENT_DTYPE)
        np.testing.assert_array_equal(joined, result.events)
