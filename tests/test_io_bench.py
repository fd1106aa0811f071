"""The reading benchmark runs, checks equality with Tonic, and reports both speeds."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from conftest import REPO


def test_bench_reading_quick(tmp_path):
    pytest.importorskip("tonic")
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "bench_reading.py"),
            "--quick",
            "--repeats",
            "3",
            "--json",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    line = result.stdout.splitlines()[0]
    match = re.fullmatch(
        r"reading ATIS 200k ev: ours ([\d.]+) Mev/s, tonic ([\d.]+) Mev/s, ([\d.]+)x", line
    )
    assert match, line
    data = json.loads(out.read_text())["atis"]
    assert data["events"] == 200_000
    assert data["ratio"] == pytest.approx(data["tonic_s"] / data["ours_s"])
    assert float(match.group(3)) == pytest.approx(data["ratio"], abs=0.05)
    # a vectorised decoder must beat tonic's even at this small size
    assert data["ratio"] > 1.0


def test_bench_reading_formats_quick(tmp_path):
    pytest.importorskip("tonic")
    pytest.importorskip("expelliarmus")
    out = tmp_path / "formats.json"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "bench_reading_formats.py"),
            "--events",
            "30000",
            "--repeats",
            "1",
            "--json",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {row["file"]: row for row in json.loads(out.read_text())["reading_formats"]}
    synthetic = {name: row for name, row in rows.items() if name.startswith("synthetic")}
    assert set(synthetic) == {
        "synthetic .dat",
        "synthetic EVT 2.0",
        "synthetic EVT 3.0",
        "synthetic DAVIS346 AEDAT 2.0",
    }
    # the script refuses to print numbers unless the outputs agree field by field
    assert synthetic["synthetic .dat"]["compared"] == "xytp"
    assert synthetic["synthetic EVT 3.0"]["compared"] == "xyp"  # the peer's times are wrong
    for row in synthetic.values():
        assert row["ratio"] == pytest.approx(row["peer_ms"] / row["ours_ms"])
        assert row["peer_wrapped_ms"] > 0
        assert f"{row['file']}: {row['events']:,} events, ours" in result.stdout
