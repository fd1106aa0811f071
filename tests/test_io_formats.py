"""The format registry, detection, the generic entry points, describe and `snn-events info`."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, sample_file
from test_io_fakes import FAKES, WRITTEN, random_events, write_fake

from snn_transfer.errors import EventFormatError
from snn_transfer.events.core import make_events
from snn_transfer.events.io import (
    FORMATS,
    EventFileNotFoundError,
    EventRecording,
    describe,
    detect_format,
    iter_events,
    read_events,
    write_events,
)


def test_registry_lists_every_format_once():
    assert sorted(FORMATS) == [
        "aedat2",
        "aedat4",
        "atis",
        "evt2",
        "evt3",
        "gesture-npy",
        "hdf5",
        "prophesee-dat",
        "stmnist-mat",
    ]
    extensions = [e for f in FORMATS.values() for e in f.extensions]
    # .raw is EVT 2.0 or EVT 3.0; the header tells which
    assert [e for e in extensions if extensions.count(e) > 1] == [".raw", ".raw"]
    assert all(f.name == name for name, f in FORMATS.items())
    assert set(FORMATS) == set(FAKES)
    assert {f for f in FORMATS if FORMATS[f].write is None} == {
        "prophesee-dat",
        "evt2",
        "evt3",
        "stmnist-mat",
    }


@pytest.mark.parametrize("format", sorted(FAKES))
def test_write_read_round_trip_through_the_registry(tmp_path, rng, format):
    path, events = write_fake(tmp_path, format, rng, n=400)
    assert detect_format(path) == format
    recording = read_events(path)
    assert isinstance(recording, EventRecording)
    assert recording.format == format and recording.path == path and len(recording) == 400
    expected_sensor = None if format == "atis" else FAKES[format][1]
    assert recording.sensor_size == expected_sensor
    np.testing.assert_array_equal(recording.events, events)
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize("format", sorted(FAKES))
def test_iter_events_equals_read_events(tmp_path, rng, format):
    path, events = write_fake(tmp_path, format, rng, n=1000)
    chunks = list(iter_events(path, chunk_size=128))
    assert [len(c) for c in chunks] == [128] * 7 + [104]
    np.testing.assert_array_equal(np.concatenate(chunks), events)


@pytest.mark.parametrize("format", sorted(FAKES))
def test_magic_wins_over_a_misleading_extension(tmp_path, rng, format):
    path, _ = write_fake(tmp_path, format, rng, n=20)
    if FORMATS[format].magic:  # named like a headerless ATIS file
        renamed = path.rename(tmp_path / "recording.bin")
        assert detect_format(renamed) == format
    else:  # headerless ATIS: only the extension tells
        renamed = path.rename(tmp_path / "recording.xyz")
        with pytest.raises(EventFormatError, match="unknown event file format"):
            detect_format(renamed)
        assert len(read_events(renamed, format=format).events) == 20


def test_unknown_format_message_lists_formats_and_the_fix(tmp_path):
    path = tmp_path / "mystery.xyz"
    path.write_bytes(b"\x00\x01\x02")
    with pytest.raises(EventFormatError) as info:
        read_events(path)
    message = str(info.value)
    assert str(path) in message and "'.xyz'" in message
    for name in FORMATS:
        assert name in message
    assert "--format" in message and "format=" in message
    with pytest.raises(EventFormatError, match="unknown format 'nope'; choose one of: atis"):
        read_events(path, format="nope")


def test_aedat3_is_recognised_and_refused(tmp_path):
    path = tmp_path / "x.aedat"
    path.write_bytes(b"#!AER-DAT3.1\r\n#End Of ASCII Header\r\n" + bytes(28))
    with pytest.raises(EventFormatError, match="AEDAT 3.x .*not supported"):
        detect_format(path)


def test_missing_file_is_a_file_not_found_error_naming_the_path(tmp_path):
    path = tmp_path / "gone.bin"
    for call in (read_events, detect_format, describe, lambda p: list(iter_events(p))):
        with pytest.raises(EventFileNotFoundError) as info:
            call(path)
        assert isinstance(info.value, FileNotFoundError)
        assert isinstance(info.value, EventFormatError)
        assert str(path) in str(info.value)


def test_write_events_is_atomic(tmp_path, rng):
    good = random_events(rng, 50, (34, 34, 2))
    path = tmp_path / "x.bin"
    write_events(path, good, "atis")
    unsorted = make_events([1, 1], [1, 1], [10, 5], [0, 1])
    for format in WRITTEN:
        with pytest.raises(EventFormatError, match="back in time"):
            write_events(path, unsorted, format, (34, 34, 2))
    for format in set(FORMATS) - set(WRITTEN):
        with pytest.raises(EventFormatError, match=f"the {format} format is read, not written"):
            write_events(path, good, format, (34, 34, 2))
    np.testing.assert_array_equal(read_events(path).events, good)  # old file untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]


def test_sensor_size_argument_replaces_the_declared_one(tmp_path, rng):
    path, _ = write_fake(tmp_path, "aedat4", rng, n=200)
    with pytest.raises(EventFormatError, match="outside the sensor"):
        read_events(path, sensor_size=(8, 8, 2))
    assert read_events(path, sensor_size=(200, 200, 2)).sensor_size == (200, 200, 2)


def test_describe_values(tmp_path):
    events = make_events(
        [0, 5, 33, 2], [1, 9, 3, 30], [1_000, 2_000, 501_000, 1_501_000], [1, 0, 1, 1]
    )
    path = tmp_path / "d.bin"
    write_events(path, events, "atis")
    info = describe(path)
    assert info == {
        "format": "atis",
        "sensor_size": None,
        "events": 4,
        "duration_s": 1.5,
        "on_share": 0.75,
        "t_first_us": 1_000,
        "t_last_us": 1_501_000,
        "extent": "x 0..33, y 0..30",
    }


def test_describe_real_samples():
    info = describe(sample_file("sample_nmnist.bin"))
    assert (info["events"], info["t_first_us"], info["t_last_us"]) == (4325, 654, 311_175)
    assert info["extent"] == "x 0..33, y 0..33"
    info = describe(sample_file("sample.aedat4"))
    assert info["format"] == "aedat4" and info["sensor_size"] == (320, 240, 2)
    assert info["events"] == 111_954 and info["duration_s"] == pytest.approx(0.589917)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snn_transfer.events.cli", "info", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_info_on_a_good_file(tmp_path):
    events = make_events([0, 5, 3], [1, 9, 3], [0, 250_000, 500_000], [1, 0, 1])
    path = tmp_path / "good.aedat4"
    write_events(path, events, "aedat4", (128, 128, 2))
    result = run_cli(str(path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == str(path)
    fields = dict(line.split(None, 1) for line in lines[1:])
    assert fields["format"] == "aedat4"
    assert fields["sensor_size"] == "(128, 128, 2)"
    assert fields["events"] == "3"
    assert fields["duration_s"] == "0.5"
    assert fields["on_share"] == "0.6667"


def test_cli_info_on_a_damaged_file(tmp_path, rng):
    path, _ = write_fake(tmp_path, "atis", rng, n=10)
    path.write_bytes(path.read_bytes()[:-1])
    result = run_cli(str(path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("snn-events info: error: ")
    assert str(path) in result.stderr and "byte 45" in result.stderr
    assert "truncated" in result.stderr


def test_cli_info_on_a_missing_file_and_forced_format(tmp_path):
    result = run_cli(str(tmp_path / "missing.aedat4"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "missing.aedat4: no such file" in result.stderr
    path = tmp_path / "noext"
    write_events(path, make_events([1], [2], [3], [1]), "atis")
    assert "--format" in run_cli(str(path)).stderr
    forced = run_cli(str(path), "--format", "atis")
    assert forced.returncode == 0 and "events       1" in forced.stdout
