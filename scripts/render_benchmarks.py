"""Render BENCHMARKS.md from the JSON files that ``scripts/bench_all.py`` collects.

    python scripts/render_benchmarks.py [--results benchmarks/results] [--out BENCHMARKS.md]

One section per benchmark (its table: ours, the peer, the ratio, units and sizes; when and
how it was measured; the command that reproduces it), the machine the run used, the transfer
gain on real images (``benchmarks/transfer_gain.md`` verbatim, when it exists) and the paper's
numbers beside the recipes that reproduce them. Reads only what ``bench_all.py`` wrote
(``run.json`` and ``<name>.json`` per benchmark), so the page can be rebuilt without
measuring anything.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MIB = 2**20


def num(x: float | None) -> str:
    """A measured figure to three significant digits (more left of the point), thousands
    separated: 12,345, 123, 12.3, 1.23, 0.123, 0.0123."""
    if x is None or not math.isfinite(x):
        return "-"
    if x == 0:
        return "0"
    decimals = max(0, 2 - math.floor(math.log10(abs(x))))
    if decimals and abs(round(x, decimals)) >= 10 ** (3 - decimals):
        decimals -= 1  # 9.996 rounds up to 10.00: keep three digits
    return f"{x:,.{decimals}f}"


def ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}x"


def mib(n_bytes: float | None) -> str:
    return "-" if n_bytes is None else num(n_bytes / MIB)


def events(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n / 1000:g}k"


def table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return [*lines, ""]


# --- one renderer per benchmark: its JSON -> markdown lines ------------------------------


def us(seconds: float | None) -> str:
    return "-" if seconds is None else num(seconds * 1e6)


def framing(data: dict) -> list[str]:
    def row(name: str, r: dict) -> list[str]:
        return [
            name,
            r.get("case", "synthetic"),
            events(r["events"]),
            f"{r['width']}x{r['height']}",
            us(r["ours_s"]),
            us(r["tonic_s"]),
            num(r["ours_mev_s"]),
            num(r["tonic_mev_s"]),
            ratio(r["ratio"]),
            "yes" if r["agree"] else "**no**",
        ]

    d = data["denoise"]
    rows = [row("ToFrame, 10 bins", r) for r in data["framing"]]
    rows.append(row(f"Denoise, {d['filter_time_us']:,} us", d))
    head = ["transform", "recording", "events", "sensor", "ours (us)", "Tonic (us)",
            "ours (Mev/s)", "Tonic (Mev/s)", "ratio", "agree"]  # fmt: skip
    return [
        *table(head, rows),
        f"Per call, timed in turns: best of {data['repeats']} rounds (of at most 3 at 10M "
        "events), each round as many calls as fill 20 ms. Events are uniformly random and "
        "time-sorted: the recording sizes (N-MNIST 0.31 s, N-Caltech101 0.3 s, CIFAR10-DVS "
        "1.3 s), then synthetic streams over one second. Ratio: Tonic's time / ours ('-': "
        "a round too short to time). 'agree': our frames equal Tonic's plus the trailing "
        "events Tonic drops; Denoise keeps the same events. "
        f"Tonic {data.get('versions', {}).get('tonic', '?')}.",
        "",
    ]


def reading(data: dict) -> list[str]:
    rows = [
        [r["case"], events(r["events"]), f"{r['width']}x{r['height']}", us(r["ours_s"]),
         us(r["tonic_s"]), ratio(r["ratio"]), us(r["ours_checked_s"]), ratio(r["ratio_checked"]),
         us(r["tonic_nmnist_dtype_s"]), ratio(r["ratio_vs_nmnist_dtype"])]
        for r in data["rows"]
    ]  # fmt: skip
    head = ["recording", "events", "sensor", "ours (us)", "Tonic (us)", "ratio",
            "ours, checked (us)", "ratio", "Tonic, int64 dtype (us)", "ratio"]  # fmt: skip
    return [
        *table(head, rows),
        "One ATIS .bin file per size (random, time-sorted events; from the page cache), per "
        f"read, timed in turns: best of {data['repeats']} rounds. Both outputs are checked "
        "equal field by field first. Ratio: Tonic's time (`read_mnist_file` asked for our "
        "dtype) / ours; 'checked': our reader also checking coordinates against the sensor "
        "(what our dataset loaders do); 'int64 dtype': Tonic with the dtype "
        "`tonic.datasets.NMNIST` asks for, against our unchecked read.",
        "",
    ]


def preprocess(data: dict) -> list[str]:
    rows = [
        [t["dataset"], f"{t['files']:,}", num(t["events_per_file"]),
         f"{t['sensor'][0]}x{t['sensor'][1]}", r["workers"], r.get("dtype", "float32"),
         num(r["ours_files_per_s"]),
         f"{num(r['tonic_files_per_s'])} ({r['tonic_num_workers']})", ratio(r["ratio"]),
         "yes" if t["agree"] else "**no**"]
        for t in data["trees"]
        for r in t["rows"]
    ]  # fmt: skip
    head = ["tree", "files", "events per file", "sensor", "workers", "our dtype",
            "ours (files/s)", "Tonic (files/s) (num_workers)", "ratio", "agree"]  # fmt: skip
    return [
        *table(head, rows),
        "A tree of ATIS .bin files in Tonic's layout, framed (10 time bins, the sensor's size) "
        "into a cache from an empty one, listing included. Ours: `snn-events preprocess "
        "<dataset> --split train --workers W` run as a command in a new process, its start-up "
        "and imports counted (uncompressed; float32, the "
        "default, and `--dtype uint16`: the same whole counts in half the bytes); Tonic: "
        "the dataset class with `ToFrame` (int16 frames), `DiskCachedDataset` (lzf) and one "
        "pass of a `DataLoader` (batch 32), in the benchmark's process with torch and Tonic "
        "imported before timing. At 1 worker Tonic's faster of `num_workers` 0 "
        "and 1. Runs in turns, each after the earlier runs' writes were flushed (`os.sync`, "
        f"not timed), best of {data['repeats']}; a ratio only for runs of at least "
        f"{data['min_timed_s']:g} s. 'agree': cached frames of three files equal Tonic's "
        "plus the events it drops. Cache sizes: "
        + "; ".join(
            f"{t['dataset']} ours {mib(t.get('ours_cache_bytes'))} MiB float32, "
            f"{mib(t.get('ours_uint16_cache_bytes'))} MiB uint16, Tonic "
            f"{mib(t.get('tonic_cache_bytes'))} MiB"
            for t in data["trees"]
        )
        + ".",
        "",
    ]


def cache(data: dict) -> list[str]:
    rows = [
        [
            f"{r['samples']} x {'x'.join(map(str, r['shape']))}",
            r["workers"],
            r["ours"],
            r["peer"],
            num(r["ours_samples_per_s"]),
            num(r["peer_samples_per_s"]),
            ratio(r["ratio"]),
            mib(r["ours_bytes"]),
            mib(r["peer_bytes"]),
        ]
        for r in data["rows"]
    ]
    head = ["samples x frame", "workers", "ours", "peer", "ours (samples/s)",
            "peer (samples/s)", "ratio", "ours on disk (MiB)", "peer on disk (MiB)"]  # fmt: skip
    return [
        *table(head, rows),
        "Through a torch DataLoader (batch 32, no shuffling), best of "
        f"{data['epochs']} timed epochs taken in turns. `ours`: the HDF5 frame cache "
        "(uncompressed by default, `ours-lzf` with lzf); `tonic`: `DiskCachedDataset` with its "
        "default lzf compression, `tonic-uncompressed` without.",
        "",
    ]


def models(data: dict) -> list[str]:
    eager, compiled = data["eager"], data["compiled"]
    case = f"{data['model']} T={data['steps']} B={data['batch']} {data['size']}x{data['size']}"
    if compiled is None:
        rows = [[case, "-", num(eager["median_s"]), "-", "-", mib(eager["peak_above_before_bytes"]),
                 "-", "-"]]  # fmt: skip
    else:
        rows = [
            [
                case,
                num(compiled["median_s"]),
                num(eager["median_s"]),
                ratio(data["speedup"]),
                mib(compiled["peak_above_before_bytes"]),
                mib(eager["peak_above_before_bytes"]),
                num(compiled["first_step_s"]),
                compiled["graph_breaks"],
            ]
        ]
    head = ["model", "compiled (s/step)", "eager (s/step)", "ratio", "compiled peak (MiB)",
            "eager peak (MiB)", "compiled first step (s)", "graph breaks"]  # fmt: skip
    return [
        *table(head, rows),
        "One event-branch forward + per-step cross-entropy + backward (no optimizer), median "
        f"of the timed steps, {eager['threads']} torch thread(s). Ratio: eager time / compiled "
        "time. Peak: resident set size during the timed steps above the size before them. The "
        "compiled first step includes the compile, from whatever inductor cache the machine "
        "had (a warm one makes it shorter than an eager step).",
        "",
    ]


def _derived(row: dict) -> str:
    derived = row.get("vs_reference_derived")
    if not derived:
        return "-"
    speed = "-".join(f"{x:.2f}" for x in sorted(derived["ratio"])) + "x"
    memory = derived.get("memory_ratio")
    memory = "-".join(f"{x:.2f}" for x in sorted(memory)) + "x" if memory else "-"
    return f"{speed} / {memory}"


def training(data: dict) -> list[str]:
    rows, failed = [], []
    for case in data["cases"]:
        label = f"{case['model']} T={case['steps']} B={case['batch']} {case['size']}x{case['size']}"
        if case.get("math"):
            label += f", {case['math']} math"
        variants, batch = case["variants"], case["batch"]
        for r in case["comparisons"]:
            rows.append(
                [
                    label,
                    r["comparison"],
                    num(r["ours_samples_per_s"]),
                    num(r["peer_samples_per_s"]),
                    ratio(r["ratio"]),
                    mib(r["ours_peak_bytes"] / batch),
                    mib(r["peer_peak_bytes"] / batch),
                    ratio(r.get("memory_ratio")),
                    _derived(r),
                    num(variants[r["ours"]].get("compile_s")) if variants[r["ours"]]["compiled"]
                    else "-",
                ]
            )  # fmt: skip
        failed += [f"{label} {n}: {v['error']}" for n, v in variants.items() if "error" in v]
    head = ["case", "ours vs peer", "ours (samples/s)", "peer (samples/s)", "ratio",
            "ours peak (MiB/sample)", "peer peak (MiB/sample)", "memory ratio",
            "vs reference, derived (speed / memory)", "compile (s)"]  # fmt: skip
    threads = next(
        (v["threads"] for c in data["cases"] for v in c["variants"].values() if "threads" in v),
        "?",
    )
    factor = data.get("reference_vs_previous")
    lines = [
        *table(head, rows),
        "One full transfer iteration as the trainer runs it: sliding (p = 0.5), one forward "
        "through both branches, TET on both heads, linear CKA with STR, backward, AdamW step. "
        f"Event samples per second of the median of {data['repeats']} timed iterations after "
        f"{data['warmup']} untimed one(s); variants in separate processes, timed in turns; "
        f"{threads} torch thread(s). Peak: resident set size above the size before the timed "
        "iterations (CPU), `torch.cuda.max_memory_allocated` above the allocation before (CUDA), "
        "divided by the batch. Compile: the first iteration's time above a timed one, with "
        "whatever inductor cache the machine had. The reference's math: per-step BatchNorm with "
        "running statistics from both branches; the default math: ours (BatchNorm statistics "
        "shared over T, running statistics from the event branch). `previous`: the modules' own "
        "forward (`compact: false`), the path before the compact one; `eager`/`compiled`: the "
        "compact path (the default); `-bf16`: `amp: bf16`.",
        "",
    ]
    if factor:
        speed, memory = factor["samples_per_s"], factor["peak_bytes"]
        lines += [
            "**vs reference, derived** (not measured in this run): ours / `previous` measured "
            f"here, times `previous` / reference = {speed[0]}-{speed[1]}x samples/s and "
            f"{memory[0]}-{memory[1]}x peak memory, which `previous` measured beside the "
            "reference's own `train_epoch` on a CPU at the reference's math (VGGSNN, T = 10, "
            "48x48, B = 8 and 16, runs alternated).",
            "",
        ]
    if data.get("cuda") is None:
        lines += ["No CUDA GPU in this run: CPU rows only.", ""]
    if failed:
        lines += ["Failed variants:", "", *[f"- {f}" for f in failed], ""]
    return lines


def gpu_estimate(data: dict) -> list[str]:
    names = {"previous": "SpikingJelly LIFNode, modules' forward",
             "compact": "compact path, torch neuron loop (eager)",
             "fused": "our fused CuPy LIF, modules' forward"}  # fmt: skip
    ref = data["reference"]
    rows = [
        [f"reference, measured ({ref['gpu']}, its README)", "float32 (TF32)", "-", "-",
         num(ref["seconds_per_iteration"]), num(ref["hours"]), num(ref["memory_bytes"] / 1e9)]
    ]  # fmt: skip
    for r in data["rows"]:
        rows.append(
            [
                f"**estimate** H200: {names.get(r['path'], r['path'])}",
                "bf16" if r["amp"] == "bf16" else "float32 (TF32)",
                num(r["flops"] / 1e12),
                num(r["memory_bytes"] / 1e9),
                num(r["estimate_s"]),
                num(r["estimate_hours"]),
                num(r["estimate_memory_bytes"] / 1e9),
            ]
        )
    head = ["what", "precision", "TFLOP / iteration", "GB moved by bandwidth-bound operators",
            "s / iteration", "hours, full recipe", "memory (GB)"]  # fmt: skip
    gpus = data["gpus"]
    h200, a100 = gpus["H200"], gpus["A100-40G"]
    recipe = data["recipe"]
    return [
        *table(head, rows),
        "**Estimates, not measurements** (except the reference's row). The recipe: "
        f"{recipe['model']}, T = {recipe['steps']}, {recipe['size']}x{recipe['size']}, batch "
        f"{recipe['batch']}, the reference's math, {recipe['epochs']} epochs of 65 iterations "
        f"({data['iterations']:,} iterations). Counted on PyTorch's `meta` device: FLOPs with "
        "`FlopCounterMode`, bytes of every operator's inputs and outputs, saved activations "
        "through `saved_tensors_hooks`; the fused neuron's bytes from the activation sizes. "
        "Time = FLOPs / dense peak + bandwidth-bound bytes / bandwidth, times "
        f"{data['time_factor']:.2f}: the reference's measured time per iteration over the same "
        "ideal counted for its computation on an A100 (its data loading, evaluation and every "
        "inefficiency folded in). Memory = saved activations + weights, gradients and AdamW "
        f"state + the largest transient, times {data['memory_factor']:.2f} (the reference's "
        "38 GB over the same count for its computation). Peaks assumed: H200 "
        f"{h200['bf16'] / 1e12:.0f} TFLOPS bf16, {h200['tf32'] / 1e12:.0f} TFLOPS TF32, "
        f"{h200['bandwidth'] / 1e12:.1f} TB/s; A100-40G {a100['bf16'] / 1e12:.0f} TFLOPS bf16, "
        f"{a100['tf32'] / 1e12:.0f} TFLOPS TF32, {a100['bandwidth'] / 1e12:.3f} TB/s. On a GPU, "
        "`bash scripts/gpu_check.sh` measures iterations of these paths "
        "(`scripts/bench_training.py`, CUDA variants).",
        "",
        "Reading it: SpikingJelly 2.0's `LIFNode` counts as one operator per layer in float32 "
        "(its fused path) but as its per-step loop in bf16, where it falls back to the loop; "
        "the reference runs an older SpikingJelly step by step, so its real traffic is above "
        "the count and the calibration factor makes every other row pessimistic. The compact "
        "path's neuron is a per-step torch loop: eager on a GPU it moves four times the bytes "
        "(torch.compile fuses it; not estimated here) but keeps a third of the memory; our "
        "fused neuron runs the layers' own forward, so it keeps their memory. "
        "The convolutions are the same 19.6 TFLOP in every row: bf16 halves their time.",
        "",
    ]


def kernels(data: dict) -> list[str]:
    rows = []
    for r in data["rows"]:
        rows.append(
            [
                r["steps"],
                r["dtype"],
                r["surrogate"],
                num(r["ours"]["ms"]),
                num(r["sj_best_ms"]),
                ratio(r["vs_sj"]),
                num(r["ours_v"]["ms"]),
                num(r["sj_best_v_ms"]),
                ratio(r["vs_sj_v"]),
                num(r["loop"]["ms"]),
                ratio(r["vs_loop"]),
                num(r["ours"]["peak_mib"]),
                num(r["sj"]["peak_mib"]) if "sj" in r else "-",
            ]
        )
    head = ["T", "dtype", "surrogate", "ours (ms)", "SJ (ms)", "ratio", "ours+v (ms)",
            "SJ+v (ms)", "ratio", "loop (ms)", "ratio", "ours (MiB)", "SJ (MiB)"]  # fmt: skip
    device = data.get("device", {})
    return [
        *table(head, rows),
        f"One LIF layer `[T, {data['batch']}, 64, 48, 48]`, forward + backward, median "
        "CUDA-event time; `+v`: with the post-reset potential of every step as a second "
        "output. SJ: the faster of SpikingJelly's `LIFNode` as is and on float32. Ratio: "
        f"peer time / our time. Device: {device.get('name', device.get('type', '?'))}, "
        f"SpikingJelly {device.get('spikingjelly', '?')} "
        f"({device.get('sj_lif_implementation', '?')}).",
        "",
        *[f"- {g}" for g in data.get("goal", [])],
        "",
    ]


# name -> (title, what is compared, renderer)
SECTIONS: dict[str, tuple[str, str, Callable[[dict], list[str]]]] = {
    "framing": ("Framing", "Our `ToFrame` and `Denoise` vs Tonic's, on the same events", framing),
    "reading": ("Reading", "Our ATIS reader vs `tonic.io.read_mnist_file`", reading),
    "preprocess": (
        "Preprocessing a dataset",
        "`snn-events preprocess` vs Tonic's dataset + `ToFrame` + `DiskCachedDataset`, "
        "files per second",
        preprocess,
    ),
    "cache": ("Frame cache", "Our HDF5 frame cache vs Tonic's `DiskCachedDataset`", cache),
    "training": (
        "Training throughput",
        "One transfer training iteration at the reference's math and ours: our compact path "
        "(eager, compiled, bf16) vs our previous path; on CUDA also our fused LIF vs "
        "SpikingJelly 2.0's `LIFNode`",
        training,
    ),
    "models": (
        "Model forward + backward",
        "A model's forward + backward, compiled vs eager",
        models,
    ),
    "kernels": (
        "Neuron kernel (CUDA)",
        "Our fused LIF vs SpikingJelly 2.0's `LIFNode` vs a plain torch loop",
        kernels,
    ),
    "gpu_estimate": (
        "N-Caltech101 on one H200 (estimate)",
        "The full N-Caltech101 recipe's time and memory on one H200, estimated from counted "
        "FLOPs and bytes, next to the reference's measured 4.5 h and 38 GB on an A100",
        gpu_estimate,
    ),
}
# a section whose script is not scripts/bench_<name>.py
SCRIPTS = {"gpu_estimate": "scripts/estimate_gpu.py"}

# --- the paper's numbers and the recipes that reproduce them ------------------------------

# (experiment, paper: baseline, paper: method, recipe (method), recipe (baseline), script)
PAPER_ROWS: list[tuple[str, str, str, str, str, str]] = [
    ("N-Caltech101, all data", "79.66", "92.64", "ncaltech101-parity",
     "ncaltech101-parity-baseline", "main_result.sh"),
    ("CEP-DVS, all data", "not published", "30.50", "cepdvs-parity", "cepdvs-parity-baseline",
     "main_result.sh"),
    *[
        (f"N-Caltech101, {pct} % of the event training data", base, ours,
         f"ncaltech101-parity-events-{pct}", f"ncaltech101-parity-events-{pct}-baseline",
         "event_fractions.sh")
        for pct, base, ours in (
            (10, "44.48", "58.50"), (20, "55.63", "69.20"), (30, "64.37", "75.51"),
            (40, "67.69", "78.62"), (50, "70.46", "81.83"), (60, "72.76", "85.63"),
            (70, "75.86", "87.36"), (80, "76.55", "88.97"), (90, "78.39", "91.95"),
            (100, "79.66", "92.64"),
        )
    ],
    *[
        (f"N-Caltech101, {pct} % of the static images", "79.66", ours,
         f"ncaltech101-parity-static-{pct}", "ncaltech101-parity-baseline", "static_fractions.sh")
        for pct, ours in ((10, "80.00"), (30, "82.41"), (50, "86.20"), (80, "88.50"),
                          (100, "92.64"))
    ],
    ("N-Caltech101, fixed coefficient 1.0", "", "89.31", "ncaltech101-parity-fixed-1.0", "",
     "ablations.sh"),
    ("N-Caltech101, fixed coefficient 0.5", "", "89.43", "ncaltech101-parity-fixed-0.5", "",
     "ablations.sh"),
    ("N-Caltech101, fixed coefficient 0.0", "", "84.13", "ncaltech101-parity-fixed-0.0", "",
     "ablations.sh"),
    ("N-Caltech101, without the V channel", "", "90.57", "ncaltech101-parity-no-v", "",
     "ablations.sh"),
    ("CEP-DVS, without the V channel", "", "28.9", "cepdvs-parity-no-v", "", "ablations.sh"),
    ("N-Caltech101, no alignment / no STR / no sliding", "", "not published",
     "ncaltech101-parity-no-align, -no-str, -no-sliding", "", "ablations.sh"),
    ("N-Caltech101, static pre-training then fine-tuning", "", "79.43",
     "ncaltech101-parity-pretrain", "", ""),
]  # fmt: skip


def paper_section() -> list[str]:
    rows = []
    for what, base, ours, recipe, baseline, script in PAPER_ROWS:
        run = f"[`scripts/paper/{script}`](scripts/paper/{script})" if script else (
            f"`snn-transfer train --recipe {recipe}`"
        )  # fmt: skip
        recipes = f"`{recipe}`" + (f" / `{baseline}`" if baseline else "")
        rows.append([what, base or "-", ours, recipes, run])
    head = ["experiment", "paper: baseline (%)", "paper: method (%)",
            "recipe: method / baseline", "runs it"]  # fmt: skip
    return [
        "## Paper-scale runs",
        "",
        "Top-1 test accuracy published for the method (He et al., AAAI 2024; VGGSNN, T = 10, "
        "48x48 on N-Caltech101, ResNet18, T = 6 on CEP-DVS; best epoch on test), from the "
        "authors' released figures and plotting scripts, beside the recipe that reproduces "
        "each under the paper's protocol (`-parity`). The scripts in "
        "[`scripts/paper/`](scripts/paper/) train three seeds per recipe (resuming interrupted "
        "runs) and tabulate them with `snn-transfer compare`; set the dataset folders first:",
        "",
        "```bash",
        "export NCALTECH_ROOT=/data/N-Caltech101 CALTECH_ROOT=/data/caltech101 "
        "CEPDVS_ROOT=/data/CEP-DVS",
        "bash scripts/paper/main_result.sh   # then event_fractions.sh, static_fractions.sh, "
        "ablations.sh",
        "```",
        "",
        *table(head, rows),
        "Without `-parity` the recipes select the epoch on a validation split and report test "
        "accuracy for it (and fix the reference's defects, so the fixed-coefficient ablations "
        "need not match). These runs need a GPU and days; no figure of ours is listed until a "
        "run has produced it.",
        "",
    ]


def transfer_gain_section(repo: Path) -> list[str]:
    path = repo / "benchmarks" / "transfer_gain.md"
    lines = ["## Transfer gain on real images", ""]
    if path.exists():
        # the measured page, then the hand-written findings (transfer_gain_notes.md) if any;
        # their links are relative to benchmarks/, this page sits one folder up
        parts = [path, path.with_name("transfer_gain_notes.md")]
        text = "\n\n".join(p.read_text().strip("\n") for p in parts if p.exists())
        text = re.sub(r"\]\((?!https?:|/|benchmarks/)([^)]+)\)", r"](benchmarks/\1)", text)
        return [*lines, text, ""]
    return [
        *lines,
        "Not measured yet. `python scripts/transfer_gain.py` trains the method and the "
        "baseline on real Fashion-MNIST images with emulated event recordings and writes "
        "`benchmarks/transfer_gain.md`, which this page then includes.",
        "",
    ]


# --- the page ------------------------------------------------------------------------------


def machine_section(run: dict) -> list[str]:
    m = run.get("machine", {})
    versions = ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items())
    lines = [
        "## Machine",
        "",
        f"- Run: {run.get('started', '?')} to {run.get('finished', '?')} "
        f"({num(run.get('seconds'))} s), `{run.get('command', 'python scripts/bench_all.py')}`",
        f"- CPU: {m.get('cpu', '?')}, {m.get('cores', '?')} logical cores "
        f"({m.get('usable_cores', '?')} usable), {num(m.get('memory_gib'))} GiB memory",
        f"- GPU: {m.get('gpu') or 'none'}",
        f"- System: {m.get('system', '?')}, Python {m.get('python', '?')}",
        f"- Versions: {versions or '?'}",
        f"- Load average (1 min) at the start and the end: {m.get('load_start', '?')}, "
        f"{run.get('load_end', '?')}",
    ]
    if run.get("note"):
        lines.append(f"- Note: {run['note']}")
    return [*lines, ""]


def bench_section(name: str, results: Path, run: dict) -> list[str]:
    title, what, body = SECTIONS[name]
    entry = run.get("benchmarks", {}).get(name, {})
    script = SCRIPTS.get(name, f"scripts/bench_{name}.py")
    lines = [f"## {title}", "", f"{what}. Script: [`{script}`]({script}).", ""]
    path = results / f"{name}.json"
    status = entry.get("status", "not run")
    if path.exists() and status != "skipped":
        data = json.loads(path.read_text())
        if data.get("quick") or entry.get("quick"):
            lines += ["**`--quick` sizes: a check of the script, not representative figures.**", ""]
        try:
            lines += body(data)
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as error:
            lines += [f"`{path.name}` does not have the expected form: {error!r}.", ""]
    else:
        lines += [f"Not measured: {entry.get('reason') or status}.", ""]
    if entry.get("status") in ("ok", "failed"):
        reason = f" ({entry['reason']})" if entry.get("reason") else ""
        when = f"measured {entry.get('finished', '?')} in {num(entry.get('seconds'))} s"
        lines.append(f"- Status: {entry['status']}{reason}; {when}")
    lines.append(f"- Reproduce: `{entry.get('command') or f'python {script}'}`")
    if name in ("kernels", "training"):
        lines.append("- On a GPU, `bash scripts/gpu_check.sh` runs it after the CUDA tests")
    return [*lines, ""]


def render(results: Path, repo: Path = REPO) -> str:
    """The markdown of BENCHMARKS.md from the files in ``results``."""
    run_path = results / "run.json"
    run = json.loads(run_path.read_text()) if run_path.exists() else {}
    lines = [
        "# Benchmarks",
        "",
        "Every speed, memory and accuracy figure the README quotes, measured by a script in "
        "`scripts/` that runs us and the peer in the same run and prints both figures and "
        "their ratio. `python scripts/bench_all.py` runs them all, writes their JSON to "
        "`benchmarks/results/` and renders this page (`--render-only` re-renders it, "
        "`--quick` runs every script at its test size). Ratios are ours / peer for "
        "throughput: above 1 means ours is faster.",
        "",
        "This file is generated; edit `scripts/render_benchmarks.py` instead.",
        "",
        *machine_section(run),
    ]
    for name in SECTIONS:
        lines += bench_section(name, results, run)
    lines += transfer_gain_section(repo)
    lines += paper_section()
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    args.out.write_text(render(args.results))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
