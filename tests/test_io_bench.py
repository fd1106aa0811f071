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
    data = json.loads(out.read_text())
    # --quick reads files of the sizes of real recordings, with fewer rounds
    sizes = [(r["case"], r["events"], r["width"], r["height"]) for r in data["rows"]]
    assert sizes == [
        ("N-MNIST-like", 4_325, 34, 34),
        ("N-Caltech101-like", 200_000, 240, 180),
        ("CIFAR10-DVS-like", 300_000, 128, 128),
    ]
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    for line, row in zip(lines, data["rows"], strict=True):
        match = re.match(
            rf"reading ATIS {row['case']} [\d.]+k ev: ours ([\d,]+) us \([\d.]+ Mev/s\), "
            r"tonic ([\d,]+) us \([\d.]+ Mev/s\), ([\d.]+)x \(checked",
            line,
        )
        assert match, line
        assert row["agree"] is True and row["rounds"] == 3
        assert row["ratio"] == pytest.approx(row["tonic_s"] / row["ours_s"])
        assert float(match.group(3)) == pytest.approx(row["ratio"], abs=0.05)
        assert row["ratio_checked"] == pytest.approx(row["tonic_s"] / row["ours_checked_s"])
        # a vectorised decoder must beat tonic's at every size
        assert row["ratio"] > 1.0


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
