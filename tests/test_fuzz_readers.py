"""Damaged files: truncated, bit-flipped and random copies of every format (fakes and the
real samples) either read as a valid stream or raise EventFormatError; nothing else escapes,
no case hangs, and no case allocates memory out of proportion to the file.

Every format is fuzzed with every kind of damage. CI runs a few examples per pair; more with
``pytest tests/test_fuzz_readers.py --fuzz-examples 500`` (or
``SNN_TRANSFER_FUZZ_EXAMPLES=500``); ``scripts/fuzz_readers.py`` runs thousands of seeded
cases per pair in a guarded child process and prints a table.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, SAMPLES, fuzz_examples
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_io_fakes import FAKES, WRITTEN, write_fake

from snn_transfer.errors import EventFormatError
from snn_transfer.events.core import EVENT_DTYPE, make_events
from snn_transfer.events.io import iter_events, read_events, write_events

EXAMPLES = fuzz_examples(15)  # per base file and kind of damage
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
REAL = {
    "real-nmnist": ("atis", "sample_nmnist.bin"),
    "real-aedat4": ("aedat4", "sample.aedat4"),
    "real-aedat2-header": ("aedat2", "sample_aedat_header.aedat"),
    "real-ncars": ("prophesee-dat", "sample_ncars.dat"),
    "real-stmnist": ("stmnist-mat", "sample_stmnist.mat"),
}
BASES = [*sorted(FAKES), *REAL]
KINDS = ("truncate", "bitflip", "random")
# where each file's structure lives: flips there hit headers, vtables, lengths
HEAD_BYTES = 512
CASE_SECONDS = 10
# traced (Python and numpy) allocations a case may make: a fixed allowance plus a multiple
# of the file size; decoding multiplies the size by at most ~20 (16-byte events from 5-byte
# ATIS records, plus the chunked read)
BUDGET_BYTES = 64 << 20
BUDGET_PER_BYTE = 64


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


# fractions of the file, so one strategy fits files of every size
where = st.floats(0, 1, exclude_max=True)
DAMAGE = {
    "truncate": st.tuples(st.just("truncate"), st.one_of(where, st.integers(0, 1024))),
    "bitflip": st.tuples(
        st.sampled_from(["flip-anywhere", "flip-head"]),
        st.lists(st.tuples(where, st.integers(0, 7)), min_size=1, max_size=8),
    ),
    "random": st.tuples(
        st.just("random"),
        st.tuples(st.one_of(st.just(0.0), where), st.binary(max_size=4096)),
    ),
}


def mutate(data: bytes, mutation: tuple) -> bytes:
    kind, spec = mutation
    if kind == "truncate":
        cut = spec if isinstance(spec, int) else int(spec * len(data))
        return data[: min(cut, max(len(data) - 1, 0))]
    if kind == "random":  # a prefix of the valid file (maybe none), then random bytes
        keep, body = spec
        return data[: int(keep * len(data))] + body
    damaged = bytearray(data)
    span = min(len(data), HEAD_BYTES) if kind == "flip-head" else len(data)
    for position, bit in spec:
        damaged[int(position * span)] ^= 1 << bit
    return bytes(damaged)


class CaseTimeout(BaseException):
    """Raised by the alarm; a BaseException so that broad ``except Exception`` in a reader
    does not swallow it (the flag below catches a reader that converts it anyway)."""


def guarded(call, budget_bytes: int):
    """Run ``call`` under a ``CASE_SECONDS`` alarm with tracemalloc; return
    ``(status, value, seconds, peak_bytes)``. A hang or an allocation beyond
    ``budget_bytes`` fails the test; an exception other than ``EventFormatError`` too."""
    fired = []

    def alarm(signum, frame):
        fired.append(True)
        raise CaseTimeout(f"no result within {CASE_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, CASE_SECONDS)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        status, value = outcome(call)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert not fired, f"the case ran past {CASE_SECONDS} s"
    assert peak <= budget_bytes, f"traced peak {peak / 2**20:.1f} MiB"
    return status, value, seconds, peak


def outcome(call):
    """``("ok", value)`` or ``("error", EventFormatError)``; any other exception fails."""
    try:
        return "ok", call()
    except (KeyboardInterrupt, SystemExit, CaseTimeout):
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


def check_damaged(path: Path, format: str, data: bytes) -> str:
    path.write_bytes(data)
    budget = BUDGET_BYTES + BUDGET_PER_BYTE * len(data)
    status, result, _, _ = guarded(lambda: read_events(path, format=format), budget)
    if status == "error":
        assert str(path) in str(result)
    else:
        assert_valid_stream(result.events, result.sensor_size)

    chunked_status, chunks, _, _ = guarded(
        lambda: list(iter_events(path, format, chunk_size=97)), budget
    )
    assert chunked_status == status
    if status == "ok":
        assert all(0 < len(c) <= 97 for c in chunks)
        joined = np.concatenate(chunks) if chunks else np.empty(0, EVENT_DTYPE)
        np.testing.assert_array_equal(joined, result.events)
    return status


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", BASES)
@FUZZ
@given(data=st.data())
def test_damaged_files_read_validly_or_raise_event_format_error(tmp_path, name, kind, data):
    format, valid = base_bytes(name)
    mutation = data.draw(DAMAGE[kind], label="damage")
    path = tmp_path / f"damaged{Path(FAKES.get(format, ('x.bin',))[0]).suffix}"
    status = check_damaged(path, format, mutate(valid, mutation))
    event(f"{mutation[0]}: {status}")


def test_the_fuzz_example_count_comes_from_the_option_or_the_environment(monkeypatch):
    monkeypatch.delenv("SNN_TRANSFER_FUZZ_EXAMPLES", raising=False)
    assert fuzz_examples(15) == 15
    monkeypatch.setenv("SNN_TRANSFER_FUZZ_EXAMPLES", "400")
    assert fuzz_examples(15) == 400
    monkeypatch.setenv("SNN_TRANSFER_FUZZ_EXAMPLES", "many")
    with pytest.raises(pytest.UsageError, match="must be a positive integer"):
        fuzz_examples(15)


def test_the_guard_catches_a_hang_even_when_the_reader_swallows_it(monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "CASE_SECONDS", 0.2)

    def swallowing():
        try:
            time.sleep(5)
        except BaseException:
            raise EventFormatError("converted") from None

    with pytest.raises(AssertionError, match="ran past 0.2 s"):
        guarded(swallowing, BUDGET_BYTES)
    with pytest.raises(AssertionError, match="traced peak"):
        guarded(lambda: np.ones(1 << 20), 1 << 10)


# --- headers that claim far more than the file holds ---------------------------------------


def _aedat4_fake(tmp_path: Path) -> tuple[Path, bytearray]:
    events = make_events(np.arange(5), np.arange(5), np.arange(5), np.zeros(5))
    path = tmp_path / "claim.aedat4"
    write_events(path, events, "aedat4", (16, 16, 2))
    return path, bytearray(path.read_bytes())


def _claim_aedat4_header_length(tmp_path: Path) -> Path:
    path, data = _aedat4_fake(tmp_path)
    struct.pack_into("<I", data, 14, 0xFFFFFFFF)  # the IOHE header length
    path.write_bytes(data)
    return path


def _claim_aedat4_packet_size(tmp_path: Path) -> Path:
    path, data = _aedat4_fake(tmp_path)
    start = 18 + struct.unpack_from("<I", data, 14)[0]  # the first packet header
    struct.pack_into("<I", data, start + 4, 0xFFFFFFFF)
    path.write_bytes(data)
    return path


def _claim_aedat4_event_vector(tmp_path: Path) -> Path:
    path, data = _aedat4_fake(tmp_path)
    vector = data.rfind(b"EVTS") + 4 + 8 + 8  # after the vtable and the table
    assert struct.unpack_from("<I", data, vector)[0] == 5
    struct.pack_into("<I", data, vector, 10**9)
    path.write_bytes(data)
    return path


def _claim_npy_rows(tmp_path: Path) -> Path:
    path = tmp_path / "claim.npy"
    np.save(path, np.zeros((3, 4), np.int64))
    data = path.read_bytes().replace(b"(3, 4)", b"(1000000000000, 4)")
    path.write_bytes(data)
    return path


def _claim_hdf5_events(count: int):
    def write(tmp_path: Path) -> Path:
        import h5py

        path = tmp_path / "claim.h5"
        with h5py.File(path, "w", libver=("v108", "latest")) as file:
            file.attrs["kind"] = np.bytes_(b"events")
            for name in "xytp":  # declared, never written: HDF5 would read fill values
                file.create_dataset(name, (count,), dtype=EVENT_DTYPE[name], chunks=(4096,))
        return path

    return write


def _claim_event_dataset_offsets(tmp_path: Path) -> Path:
    import h5py

    from snn_transfer.events.io import EventDatasetWriter

    path = tmp_path / "claim.h5"
    with EventDatasetWriter(path, (8, 8, 2), ["a"]) as writer:
        writer.append(make_events([1], [1], [0], [0]), label=0, name="one")
    with h5py.File(path, "r+") as file:
        del file["offsets"]
        file.create_dataset("offsets", (10**9,), dtype=np.int64, chunks=(4096,))
    return path


CLAIMS = {
    "aedat4 header length 2**32-1": ("aedat4", _claim_aedat4_header_length, "declares 4294967295"),
    "aedat4 packet of 2**32-1 bytes": ("aedat4", _claim_aedat4_packet_size, "declares 4294967295"),
    "aedat4 vector of 10**9 events": ("aedat4", _claim_aedat4_event_vector, "decoder failed"),
    "npy of 10**12 rows": ("gesture-npy", _claim_npy_rows, "declares 1000000000000 rows"),
    "hdf5 of 10**12 events": ("hdf5", _claim_hdf5_events(10**12), r"stores 0 bytes"),
    "hdf5 of 10**8 events": ("hdf5", _claim_hdf5_events(10**8), r"stores 0 bytes"),
}


@pytest.mark.parametrize("case", CLAIMS)
def test_a_header_claiming_huge_counts_is_refused_without_allocating(tmp_path, case):
    format, write, message = CLAIMS[case]
    path = write(tmp_path)
    assert path.stat().st_size < 8192
    for call in (
        lambda: read_events(path, format=format),
        lambda: list(iter_events(path, format, chunk_size=1 << 20)),
    ):
        status, error, seconds, peak = guarded(call, 1 << 20)
        assert status == "error", f"read {len(error)} events"
        assert str(path) in str(error)
        assert re.search(message, str(error)), str(error)
        assert seconds < 2


def test_an_event_dataset_whose_offsets_claim_10_9_samples_is_refused(tmp_path):
    from snn_transfer.events.io import EventDataset

    path = _claim_event_dataset_offsets(tmp_path)
    status, error, _, _ = guarded(lambda: EventDataset(path), 1 << 20)
    assert status == "error"
    assert "dataset '/offsets' declares shape (1000000000,)" in str(error)


# --- the fuzzing script --------------------------------------------------------------------


def test_fuzz_script_quick_run_finds_only_valid_streams_and_event_format_errors(tmp_path):
    out = tmp_path / "fuzz.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "fuzz_readers.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    rows = {(r["format"], r["kind"]): r for r in result["rows"]}
    # the script fuzzes the formats our own writers write
    assert set(rows) == {(f, k) for f in WRITTEN for k in KINDS}
    for row in rows.values():
        assert row["cases"] == 20 and row["other"] == 0
        assert row["valid"] + row["error"] == 20
        assert row["max_seconds"] < 10
    # every kind of damage is refused at least sometimes
    assert all(sum(rows[f, k]["error"] for f in WRITTEN) > 0 for k in KINDS)
    assert "EventFormatError" in done.stdout and "other" in done.stdout


def test_fuzz_script_cases_are_deterministic(tmp_path):
    spec = importlib.util.spec_from_file_location("fuzz_readers", REPO / "scripts/fuzz_readers.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    bases = script.write_bases(tmp_path, seed=0)
    for format in script.FORMATS:
        for kind in script.KINDS:
            first = script.case_bytes(bases, format, kind, 3, seed=0)
            assert first == script.case_bytes(bases, format, kind, 3, seed=0)
            assert first != script.case_bytes(bases, format, kind, 3, seed=1)
