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
