"""scripts/bench_all.py runs the benchmarks and records failures; render_benchmarks.py turns
their JSON into BENCHMARKS.md."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "scripts"


def load(name: str):
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# --- fixtures: one JSON per benchmark, in each script's own format ---------------------------


def framing_json() -> dict:
    def row(n, w, h, ours, tonic, case="synthetic"):
        return {"case": case, "events": n, "width": w, "height": h, "ours_s": n / ours / 1e6,
                "tonic_s": n / tonic / 1e6, "ours_mev_s": ours, "tonic_mev_s": tonic,
                "ratio": ours / tonic, "agree": True}  # fmt: skip

    denoise = row(100_000, 240, 180, 41.5, 0.83)
    denoise.update(filter_time_us=10_000, kept=5)
    small = row(4_325, 34, 34, 86.5, 14.0, "N-MNIST-like")
    small["ratio"] = None  # a round too short to time
    return {
        "quick": False,
        "repeats": 5,
        "n_time_bins": 10,
        "versions": {"tonic": "1.7.0"},
        "framing": [
            small,
            row(1_000_000, 240, 180, 123.4, 16.7),
            row(10_000_000, 128, 128, 98.76, 20.1),
        ],
        "denoise": denoise,
        "all_agree": True,
    }


def reading_json() -> dict:
    def row(case, n, w, h, ours, tonic, checked, wide):
        return {"case": case, "events": n, "width": w, "height": h, "ours_s": ours,
                "tonic_s": tonic, "ours_checked_s": checked, "tonic_nmnist_dtype_s": wide,
                "ours_mev_s": n / ours / 1e6, "tonic_mev_s": n / tonic / 1e6,
                "ratio": tonic / ours, "ratio_checked": tonic / checked,
                "ratio_vs_nmnist_dtype": wide / ours, "agree": True}  # fmt: skip

    return {
        "quick": False,
        "repeats": 7,
        "rows": [
            row("N-MNIST-like", 4_325, 34, 34, 25e-6, 75e-6, 30e-6, 80e-6),
            row("synthetic", 10_000_000, 240, 180, 0.05, 0.15, 0.06, 0.2),
        ],
    }


def preprocess_json() -> dict:
    rows = [
        {"workers": 1, "tonic_num_workers": 0, "ours_s": 4.0, "tonic_s": 30.0,
         "ours_files_per_s": 2500.0, "tonic_files_per_s": 333.3, "ratio": 7.5},
        {"workers": 2, "tonic_num_workers": 2, "ours_s": 2.5, "tonic_s": 20.0,
         "ours_files_per_s": 4000.0, "tonic_files_per_s": 500.0, "ratio": 8.0},
    ]  # fmt: skip
    rows[1:1] = [{**rows[0], "dtype": "uint16", "ours_s": 2.0, "ratio": 15.0}]
    tree = {"dataset": "n-mnist", "tonic_class": "NMNIST", "sensor": [34, 34, 2],
            "files": 10_000, "events_per_file": 4321.5, "rows": rows, "agree": True,
            "ours_cache_bytes": 900 * 2**20, "ours_uint16_cache_bytes": 450 * 2**20,
            "tonic_cache_bytes": 180 * 2**20}  # fmt: skip
    return {"quick": False, "repeats": 3, "min_timed_s": 1.0, "trees": [tree]}


def cache_json() -> dict:
    rows = [
        {"samples": 400, "shape": [10, 2, 48, 48], "workers": w, "ours": "ours", "peer": "tonic",
         "ours_samples_per_s": ours, "peer_samples_per_s": peer, "ratio": ours / peer,
         "ours_bytes": 38 * 2**20, "peer_bytes": 9.5 * 2**20}
        for w, ours, peer in ((0, 4321.0, 345.6), (2, 2468.0, 617.0))
    ]  # fmt: skip
    return {"quick": False, "epochs": 5, "rows": rows}


def training_json() -> dict:
    def variant(name, compiled, rate, peak):
        return {"variant": name, "device": "cpu", "compiled": compiled, "neuron": "spikingjelly",
                "samples_per_s": rate, "median_s": 8 / rate, "peak_bytes": peak,
                "compile_s": 61.5 if compiled else 0.0, "threads": 1}  # fmt: skip

    variants = {
        "previous": variant("previous", False, 0.25, 3000 * 2**20),
        "compiled": variant("compiled", True, 0.4, 1500 * 2**20),
    }
    comparison = {
        "comparison": "CPU: compact compiled vs previous path eager", "ours": "compiled",
        "peer": "previous", "ours_samples_per_s": 0.4, "peer_samples_per_s": 0.25, "ratio": 1.6,
        "ours_peak_bytes": 1500 * 2**20, "peer_peak_bytes": 3000 * 2**20, "memory_ratio": 0.5,
        "vs_reference_derived": {"ratio": [1.76, 1.92], "memory_ratio": [0.455, 0.475]},
    }  # fmt: skip
    case = {"model": "vggsnn", "classes": 101, "steps": 10, "batch": 8, "size": 48,
            "math": "reference", "variants": variants, "comparisons": [comparison]}  # fmt: skip
    tiny = {**case, "model": "tiny", "steps": 8, "batch": 32, "size": 34, "comparisons": [],
            "math": "default",
            "variants": {"eager": {"variant": "eager", "error": "RuntimeError: boom"}}}  # fmt: skip
    return {"quick": False, "repeats": 3, "warmup": 1, "threads": 1, "slide_probability": 0.5,
            "reference_vs_previous": {"samples_per_s": [1.1, 1.2], "peak_bytes": [0.91, 0.95]},
            "cuda": None, "cases": [case, tiny], "errors": ["tiny eager: RuntimeError: boom"]}  # fmt: skip


def gpu_estimate_json() -> dict:
    row = {"path": "fused", "amp": "bf16", "flops": 19.6e12, "memory_bytes": 87.5e9,
           "estimate_s": 0.138, "estimate_hours": 0.75, "estimate_memory_bytes": 18.5e9}  # fmt: skip
    gpus = {"H200": {"bf16": 989e12, "tf32": 495e12, "bandwidth": 4.8e12, "memory": 141e9},
            "A100-40G": {"bf16": 312e12, "tf32": 156e12, "bandwidth": 1.555e12,
                         "memory": 40e9}}  # fmt: skip
    reference = {"gpu": "A100-40G", "hours": 4.5, "memory_bytes": 38e9,
                 "seconds_per_iteration": 0.831}  # fmt: skip
    return {"recipe": {"model": "vggsnn", "steps": 10, "size": 48, "batch": 120, "epochs": 300},
            "iterations": 19500, "gpus": gpus, "reference": reference, "time_factor": 3.62,
            "memory_factor": 0.93, "rows": [row], "estimate": True}  # fmt: skip


def models_json() -> dict:
    eager = {"median_s": 12.5, "peak_above_before_bytes": 2048 * 2**20, "first_step_s": 13.0,
             "threads": 1}  # fmt: skip
    compiled = {"median_s": 5.0, "peak_above_before_bytes": 1024 * 2**20, "first_step_s": 95.0,
                "graph_breaks": 0, "threads": 1}  # fmt: skip
    return {"model": "vggsnn", "steps": 10, "batch": 16, "size": 48, "classes": 101,
            "bn_mode": "shared", "eager": eager, "compiled": compiled, "speedup": 2.5}  # fmt: skip


def kernels_json() -> dict:
    def timing(ms, mib=None):
        return {"ms": ms, "peak_mib": mib, "repeats": 20}

    row = {"steps": 10, "dtype": "float32", "surrogate": "triangle",
           "ours": timing(0.512, 180.0), "ours_v": timing(0.6), "sj": timing(1.024, 360.0),
           "sj_v": timing(1.5), "loop": timing(5.12), "sj_best_ms": 1.024, "sj_best_v_ms": 1.5,
           "vs_sj": 2.0, "vs_sj_v": 2.5, "vs_loop": 10.0, "vs_loop_v": 8.53, "v_seq_cost": 1.17}  # fmt: skip
    return {"device": {"type": "cuda", "name": "NVIDIA H200", "spikingjelly": "2.0.0",
                       "sj_lif_implementation": "triton"},
            "batch": 32, "quick": False, "rows": [row], "goal": ["goal T=10 float32 ... MET"]}  # fmt: skip


FIXTURES = {
    "framing": framing_json,
    "reading": reading_json,
    "preprocess": preprocess_json,
    "cache": cache_json,
    "training": training_json,
    "models": models_json,
    "kernels": kernels_json,
    "gpu_estimate": gpu_estimate_json,
}


def write_fixtures(results: Path) -> None:
    results.mkdir(parents=True, exist_ok=True)
    for name, make in FIXTURES.items():
        (results / f"{name}.json").write_text(json.dumps(make()))
    entry = {"status": "ok", "quick": False, "seconds": 12.0, "finished": "2026-01-02T03:04:05"}
    run = {
        "started": "2026-01-02T03:00:00",
        "finished": "2026-01-02T03:30:00",
        "seconds": 1800.0,
        "command": "python scripts/bench_all.py --threads 1",
        "load_end": 3.5,
        "note": "another job kept both cores busy",
        "machine": {
            "cpu": "Test CPU 9000",
            "cores": 2,
            "usable_cores": 2,
            "memory_gib": 23.5,
            "gpu": None,
            "system": "Linux",
            "python": "3.11.7",
            "versions": {"torch": "2.14.1", "tonic": "1.7.0", "spikingjelly": "2.0.0"},
            "load_start": 4.25,
        },  # fmt: skip
        "benchmarks": {
            name: {**entry, "command": f"python scripts/bench_{name}.py --json x.json"}
            for name in FIXTURES
        },
    }
    (results / "run.json").write_text(json.dumps(run))


def test_render_makes_a_table_per_benchmark(tmp_path):
    render = load("render_benchmarks")
    results = tmp_path / "results"
    write_fixtures(results)
    page = render.render(results, repo=tmp_path)
    for title in ("Framing", "Reading", "Preprocessing a dataset", "Frame cache",
                  "Training throughput",
                  "Model forward + backward", "Neuron kernel (CUDA)", "Machine",
                  "N-Caltech101 on one H200 (estimate)",
                  "Transfer gain on real images", "Paper-scale runs"):  # fmt: skip
        assert f"\n## {title}\n" in page
    # framing: per call in us and Mev/s to three digits, ratio ours / Tonic
    framing = "| ToFrame, 10 bins | synthetic | 1M | 240x180 | 8,104 | 59,880 | 123 | 16.7 |"
    assert framing + " 7.39x | yes |" in page
    framing = "| ToFrame, 10 bins | synthetic | 10M | 128x128 | 101,256 | 497,512 | 98.8 | 20.1 |"
    assert framing + " 4.91x | yes |" in page
    small = "| ToFrame, 10 bins | N-MNIST-like | 4.325k | 34x34 | 50.0 | 309 | 86.5 | 14.0 | - |"
    assert small in page
    denoise = "| Denoise, 10,000 us | synthetic | 100k | 240x180 | 2,410 | 120,482 | 41.5 | 0.830 |"
    assert denoise + " 50.00x | yes |" in page
    reading = (
        "| N-MNIST-like | 4.325k | 34x34 | 25.0 | 75.0 | 3.00x | 30.0 | 2.50x | 80.0 | 3.20x |"
    )
    assert reading in page
    assert "| synthetic | 10M | 240x180 | 50,000 | 150,000 | 3.00x | 60,000 | 2.50x |" in page
    # rows without a dtype come from before the uint16 rows: float32, the default
    assert (
        "| n-mnist | 10,000 | 4,322 | 34x34 | 1 | float32 | 2,500 | 333 (0) | 7.50x | yes |" in page
    )
    assert (
        "| n-mnist | 10,000 | 4,322 | 34x34 | 1 | uint16 | 2,500 | 333 (0) | 15.00x | yes |" in page
    )
    assert (
        "| n-mnist | 10,000 | 4,322 | 34x34 | 2 | float32 | 4,000 | 500 (2) | 8.00x | yes |" in page
    )
    assert "n-mnist ours 900 MiB float32, 450 MiB uint16, Tonic 180 MiB" in page
    assert "| 400 x 10x2x48x48 | 0 | ours | tonic | 4,321 | 346 | 12.50x | 38.0 | 9.50 |" in page
    assert "| 400 x 10x2x48x48 | 2 | ours | tonic | 2,468 | 617 | 4.00x | 38.0 | 9.50 |" in page
    training = "| vggsnn T=10 B=8 48x48, reference math | CPU: compact compiled vs previous "
    training += "path eager | 0.400 | 0.250 | 1.60x | 188 | 375 | 0.50x | 1.76-1.92x / 0.46-0.47x "
    assert training + "| 61.5 |" in page
    assert "- tiny T=8 B=32 34x34, default math eager: RuntimeError: boom" in page
    assert "times `previous` / reference = 1.1-1.2x samples/s and 0.91-0.95x peak" in page
    # the GPU estimate: the reference measured, ours marked as estimates
    measured = "| reference, measured (A100-40G, its README) | float32 (TF32) | - | - | 0.831 | "
    assert measured + "4.50 | 38.0 |" in page
    estimate = "| **estimate** H200: our fused CuPy LIF, modules' forward | bf16 | 19.6 | 87.5 | "
    assert estimate + "0.138 | 0.750 | 18.5 |" in page
    assert "**Estimates, not measurements**" in page
    assert "[`scripts/estimate_gpu.py`](scripts/estimate_gpu.py)" in page
    assert "| vggsnn T=10 B=16 48x48 | 5.00 | 12.5 | 2.50x | 1,024 | 2,048 | 95.0 | 0 |" in page
    kernel = "| 10 | float32 | triangle | 0.512 | 1.02 | 2.00x | 0.600 | 1.50 | 2.50x | 5.12 "
    assert kernel + "| 10.00x | 180 | 360 |" in page
    assert "NVIDIA H200" in page and "- goal T=10 float32 ... MET" in page
    # the machine and how to reproduce
    assert "CPU: Test CPU 9000, 2 logical cores (2 usable), 23.5 GiB memory" in page
    assert "torch 2.14.1, tonic 1.7.0, spikingjelly 2.0.0" in page
    assert "Note: another job kept both cores busy" in page
    assert "4.25, 3.5" in page
    assert "- Reproduce: `python scripts/bench_cache.py --json x.json`" in page
    assert "`--quick` sizes" not in page
    # no transfer_gain.md: the page says how to make it
    assert "python scripts/transfer_gain.py" in page


def test_render_includes_the_transfer_gain_page_verbatim(tmp_path):
    render = load("render_benchmarks")
    results = tmp_path / "results"
    write_fixtures(results)
    (tmp_path / "benchmarks").mkdir()
    gain = "Event-only 41.2 % vs transfer 47.9 % (3 seeds).\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    (tmp_path / "benchmarks" / "transfer_gain.md").write_text(gain)
    page = render.render(results, repo=tmp_path)
    section = page.split("## Transfer gain on real images\n\n")[1]
    assert section.startswith(gain)
    assert "python scripts/transfer_gain.py" not in page

    # its relative links point into benchmarks/ from the page one folder up
    linked = gain + "\n![plot](transfer_gain.png) [doc](https://example.org/x)\n"
    (tmp_path / "benchmarks" / "transfer_gain.md").write_text(linked)
    page = render.render(results, repo=tmp_path)
    assert "![plot](benchmarks/transfer_gain.png) [doc](https://example.org/x)" in page
    # hand-written findings follow the measured page
    (tmp_path / "benchmarks" / "transfer_gain_notes.md").write_text("### What we found\n\nSTR.\n")
    page = render.render(results, repo=tmp_path)
    assert "[doc](https://example.org/x)\n\n### What we found\n\nSTR.\n" in page


def test_render_of_missing_and_malformed_results(tmp_path):
    render = load("render_benchmarks")
    results = tmp_path / "results"
    results.mkdir()
    (results / "reading.json").write_text(json.dumps({"rows": [{"events": 5}]}))
    run = {"benchmarks": {"kernels": {"status": "skipped", "reason": "no CUDA GPU on this machine"},
                          "cache": {"status": "failed", "reason": "exit 1: boom", "seconds": 3.0}}}  # fmt: skip
    (results / "run.json").write_text(json.dumps(run))
    page = render.render(results, repo=tmp_path)
    assert "Not measured: no CUDA GPU on this machine." in page
    assert "Not measured: exit 1: boom." in page and "- Status: failed (exit 1: boom)" in page
    assert "`reading.json` does not have the expected form: KeyError(" in page
    assert "Not measured: not run." in page  # framing: no JSON, no entry


def test_paper_rows_name_real_recipes_and_the_scripts_numbers():
    from snn_transfer.recipes import resolve

    render = load("render_benchmarks")
    assert ("N-Caltech101, 10 % of the event training data", "44.48", "58.50") in [
        row[:3] for row in render.PAPER_ROWS
    ]
    for _, base, ours, recipe, baseline, script in render.PAPER_ROWS:
        for name in (recipe, baseline):
            if name and "," not in name:
                resolve(name)  # raises for an unknown recipe
        if script:
            text = (SCRIPTS / "paper" / script).read_text()
            for figure in (base, ours):
                if figure and figure[0].isdigit():
                    assert figure in text, (figure, script)


def fake_script(path: Path, body: str) -> Path:
    path.write_text(
        "import json, sys\n"
        "out = sys.argv[sys.argv.index('--json') + 1]\n"
        "print('args', ' '.join(sys.argv[1:]))\n" + body
    )
    return path


def test_bench_all_records_a_failure_and_goes_on(tmp_path, monkeypatch, capsys):
    bench_all = load("bench_all")
    failing = fake_script(tmp_path / "fail.py", "print('boom: outputs differ')\nsys.exit(3)\n")
    passing = fake_script(
        tmp_path / "pass.py", f"open(out, 'w').write(json.dumps({reading_json()!r}))\n"
    )
    benches = (
        SimpleNamespace(name="framing", script=failing, threads=False, cuda_only=False),
        SimpleNamespace(name="reading", script=passing, threads=True, cuda_only=False),
        SimpleNamespace(name="kernels", script=passing, threads=False, cuda_only=True),
    )
    monkeypatch.setattr(bench_all, "BENCHES", benches)
    monkeypatch.setattr(bench_all, "cuda_device", lambda: None)
    results, page = tmp_path / "results", tmp_path / "BENCHMARKS.md"
    results.mkdir()
    (results / "framing.json").write_text(json.dumps(framing_json()))  # stale: must go
    argv = ["--quick", "--threads", "3", "--results", str(results), "--out", str(page)]
    assert bench_all.main(argv) == 1
    run = json.loads((results / "run.json").read_text())
    framing, reading, kernels = (run["benchmarks"][n] for n in ("framing", "reading", "kernels"))
    assert framing["status"] == "failed" and framing["exit"] == 3
    assert framing["reason"] == "exit 3: boom: outputs differ"
    assert not (results / "framing.json").exists()
    assert reading["status"] == "ok" and reading["quick"] is True and reading["seconds"] >= 0
    assert reading["command"].endswith(f"--json {results / 'reading.json'} --quick --threads 3")
    assert (results / "reading.log").read_text().startswith("args --json ")
    assert kernels["status"] == "skipped" and kernels["reason"] == "no CUDA GPU on this machine"
    assert run["machine"]["cores"] >= 1 and "torch" in run["machine"]["versions"]
    text = page.read_text()
    assert "Not measured: exit 3: boom: outputs differ." in text
    assert "| synthetic | 10M | 240x180 | 50,000 | 150,000 | 3.00x | 60,000 | 2.50x |" in text
    out = capsys.readouterr().out
    assert "== framing: FAILED (exit 3: boom: outputs differ)" in out
    assert "framing failed, reading ok, kernels skipped" in out


def test_render_only_measures_nothing(tmp_path):
    results, page = tmp_path / "results", tmp_path / "page.md"
    write_fixtures(results)
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / "bench_all.py"), "--render-only"]
        + ["--results", str(results), "--out", str(page)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "==" in done.stdout and "wrote" in done.stdout and "framing:" not in done.stdout
    assert "| synthetic | 1M | 240x180 | 8,104 | 59,880 | 123 | 16.7 | 7.39x | yes |" in (
        page.read_text()
    )


def test_quick_run_of_a_real_benchmark(tmp_path):
    results, page = tmp_path / "results", tmp_path / "page.md"
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / "bench_all.py"), "--quick", "--only", "reading"]
        + ["--results", str(results), "--out", str(page)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = json.loads((results / "reading.json").read_text())["rows"]
    assert [r["case"] for r in rows] == ["N-MNIST-like", "N-Caltech101-like", "CIFAR10-DVS-like"]
    first = rows[0]
    assert first["events"] == 4_325 and first["ours_s"] > 0 and first["tonic_s"] > 0
    assert first["ratio"] == pytest.approx(first["tonic_s"] / first["ours_s"])
    run = json.loads((results / "run.json").read_text())
    assert list(run["benchmarks"]) == ["reading"] and run["benchmarks"]["reading"]["status"] == "ok"
    render = load("render_benchmarks")
    row = (
        f"| N-MNIST-like | 4.325k | 34x34 | {render.num(first['ours_s'] * 1e6)} | "
        f"{render.num(first['tonic_s'] * 1e6)} | {first['ratio']:.2f}x |"
    )
    text = page.read_text()
    assert row in text and "`--quick` sizes" in text
