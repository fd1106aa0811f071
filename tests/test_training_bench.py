"""scripts/bench_training.py: one transfer training iteration per variant, ratios ours / peer."""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_training.py"


def load_script():
    spec = importlib.util.spec_from_file_location("bench_training", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_quick(tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / "training.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--threads", "1", "--json", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done, json.loads(out.read_text())


def check_variant(result: dict, batch: int, repeats: int) -> None:
    assert "error" not in result, result
    assert result["device"] == "cpu" and result["neuron"] == "spikingjelly"
    assert result["threads"] == 1
    assert result["parameters"] == 44_052 + 2  # tiny at K = 10 plus the T = 2 STR coefficients
    times = result["times_s"]
    assert len(times) == repeats and all(t > 0 and math.isfinite(t) for t in times)
    assert result["median_s"] == pytest.approx(sorted(times)[repeats // 2])
    assert result["best_s"] == min(times)
    assert result["samples_per_s"] == pytest.approx(batch / result["median_s"])
    assert result["peak_bytes"] >= 0 and result["memory_before_bytes"] > 0
    assert result["peak_rss_bytes"] >= result["memory_before_bytes"]


def test_quick_eager_writes_the_json(tmp_path):
    done, result = run_quick(tmp_path, "--no-compile", "--math", "reference")
    assert result["quick"] is True and result["errors"] == [] and result["cuda"] is None
    assert (result["repeats"], result["warmup"], result["slide_probability"]) == (3, 1, 0.5)
    assert result["maths"] == {"reference": {"bn_mode": "per_step", "bn_running_stats": "both"}}
    (case,) = result["cases"]
    sizes = (case["model"], case["classes"], case["steps"], case["batch"], case["size"])
    assert sizes == ("tiny", 10, 2, 4, 34) and case["math"] == "reference"
    assert list(case["variants"]) == ["previous", "eager", "eager-bf16"]
    for name, compact, amp in (("previous", False, "none"), ("eager", True, "none"),
                               ("eager-bf16", True, "bf16")):  # fmt: skip
        variant = case["variants"][name]
        check_variant(variant, batch=4, repeats=3)
        assert (variant["compact"], variant["amp"], variant["compile_s"]) == (compact, amp, 0.0)
        assert variant["peak_bytes_per_sample"] == variant["peak_bytes"] / 4
    rows = {(r["ours"], r["peer"]): r for r in case["comparisons"]}
    assert list(rows) == [("eager", "previous"), ("eager-bf16", "previous")]
    for row in rows.values():
        low, high = row["vs_reference_derived"]["ratio"]
        assert (low, high) == pytest.approx((row["ratio"] * 1.1, row["ratio"] * 1.2))
        low, high = row["vs_reference_derived"]["memory_ratio"]
        assert (low, high) == pytest.approx(
            (row["memory_ratio"] * 0.91, row["memory_ratio"] * 0.95)
        )
    assert "tiny T=2 B=4 34x34 reference math eager: " in done.stdout
    assert "eager vs the reference (derived, not measured here" in done.stdout


@pytest.mark.slow  # torch.compile of both branches and the backward: ~30 s with a warm cache
def test_quick_compiled_against_eager(tmp_path):
    done, result = run_quick(tmp_path, "--variants", "eager,compiled", "--math", "default")
    (case,) = result["cases"]
    assert list(case["variants"]) == ["eager", "compiled"] and case["math"] == "default"
    for name in ("eager", "compiled"):
        check_variant(case["variants"][name], batch=4, repeats=3)
    compiled = case["variants"]["compiled"]
    assert compiled["compiled"] is True
    assert compiled["compile_s"] > 0 and compiled["first_step_s"] > compiled["median_s"]
    (row,) = case["comparisons"]
    assert (row["ours"], row["peer"]) == ("compiled", "eager")
    assert row["ours_samples_per_s"] == compiled["samples_per_s"]
    assert row["peer_samples_per_s"] == case["variants"]["eager"]["samples_per_s"]
    assert row["ratio"] == pytest.approx(row["ours_samples_per_s"] / row["peer_samples_per_s"])
    assert row["memory_ratio"] == pytest.approx(row["ours_peak_bytes"] / row["peer_peak_bytes"])
    assert (
        f"CPU: torch.compile vs eager (compact): ours {row['ours_samples_per_s']:.2f}"
        in done.stdout
    )
    assert f"{row['ratio']:.2f}x" in done.stdout


def test_compare_pairs_the_variants_that_ran():
    bench = load_script()
    variants = {
        "eager": {"samples_per_s": 10.0, "peak_bytes": 400},
        "compiled": {"samples_per_s": 25.0, "peak_bytes": 100},
        "cuda-eager": {"samples_per_s": 90.0, "peak_bytes": 50},
        "cuda-eager-sj": {"variant": "cuda-eager-sj", "error": "boom"},
    }
    (row,) = bench.compare(variants)
    assert bench.versus_reference(row) is None  # only against the previous path
    assert (row["ours"], row["peer"], row["ratio"], row["memory_ratio"]) == (
        "compiled",
        "eager",
        2.5,
        0.25,
    )
    assert (row["ours_samples_per_s"], row["peer_samples_per_s"]) == (25.0, 10.0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_a_failing_variant_is_recorded_and_the_others_still_run():
    bench = load_script()
    args = argparse.Namespace(warmup=1, threads=1, repeats=2)
    case = ("tiny", 10, 2, 2, 34)
    variants = bench.measure(args, case, ["cuda-eager", "eager"], "reference")
    assert variants["cuda-eager"]["variant"] == "cuda-eager"
    assert variants["cuda-eager"]["error"]  # the worker's last line of stderr
    assert len(variants["eager"]["times_s"]) == 2 and variants["eager"]["samples_per_s"] > 0
    assert bench.compare(variants) == []
