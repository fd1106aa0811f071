"""Transfer gain on real images: does the method help most when labelled events are scarce?

The paper's central table (N-Caltech101, 10 % of the event data: 44.48 % baseline vs
58.50 % with the method) reproduced in shape on data a CPU machine has:

* static images: real Fashion-MNIST (Debian ``dataset-fashion-mnist``; ``--root`` for
  another IDX folder) or scikit-learn's digits (``--dataset digits``);
* events: the saccade emulator applied to *disjoint* images of the same classes (for
  Fashion-MNIST 600 per class, split 60/20/20 into train/validation/test), emulated once and
  cached; the static pool is 1,000 other images per class;
* for 10 %, 30 % and 100 % of the event training split (nested subsets), the baseline
  (event data only) and the method, 3 training seeds each, the same budget (epochs x
  samples per epoch) for every run; test accuracy at the epoch picked on validation;
* the paper's ablations on the 10 % split: alignment off, STR off, a fixed coefficient
  0.5, sliding off (static for half the epochs, then events) and the V channel off
  (grayscale static inputs).

Model: ``tiny`` (two spiking conv layers, 44k parameters), T = 4, 34x34. The data split is
the same for every run (data seed 0); the seed varies the training (initialisation,
sampling, static partners, sliding draws).

Every run lands in ``<out>/runs/<name>/`` and is skipped when finished, so an interrupted
sweep continues where it stopped. ``--jobs 2`` trains two runs at a time on one thread each.
The results go to ``<out>/transfer_gain.json``, ``transfer_gain.md`` and
``transfer_gain.png`` (``scripts/bench_all.py`` puts the Markdown into BENCHMARKS.md).

    python scripts/transfer_gain.py --jobs 2              # the full sweep (< 2 h, 2 cores)
    python scripts/transfer_gain.py --quick --out /tmp/tg # minutes, for the tests
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

FASHION_ROOT = "/usr/share/datasets/fashion-mnist"
FRACTIONS = (0.1, 0.3, 1.0)
SEEDS = (0, 1, 2)
ABLATION_FRACTION = 0.1
# name -> (description, config overrides on top of the method)
ABLATIONS: dict[str, tuple[str, list[str]]] = {
    "no-align": (
        "alignment off (alpha = 0, no STR)",
        ["loss.alignment=none", "loss.str_mode=none"],
    ),
    "no-str": ("STR off (alignment averaged over steps)", ["loss.str_mode=none"]),
    "fixed-0.5": (
        "fixed coefficient C = 0.5",
        ["loss.str_mode=fixed", "loss.fixed_coefficient=0.5"],
    ),
    "no-sliding": (
        "sliding off (static for half the epochs, then events)",
        ["sliding.kind=two_stage"],
    ),
    "no-v": ("V channel off (grayscale static inputs)", ["data.options.channel=gray"]),
}


def base_config(dataset: str, root: str | None, quick: bool) -> dict[str, Any]:
    """The shared training setup; every run differs from it only by its overrides."""
    if dataset == "fashion-mnist":
        options: dict[str, Any] = {
            "root": root or FASHION_ROOT,
            "per_class": 40 if quick else 1600,
            "static_share": 0.625,
        }
    else:
        options = {"per_class": 30} if quick else {}
    options.update({"static_scale": 4.0, "workers": 2, "progress": False})
    return {
        "mode": "transfer",
        "epochs": 3 if quick else 30,
        "time_steps": 4,
        "seed": 0,
        "threads": 1,
        "keep_checkpoints": 1,
        "data": {
            "dataset": dataset,
            "options": options,
            "batch_size": 32,
            "eval_batch_size": 64,
            "epoch_samples": 64 if quick else 1280,
        },
        "model": {"name": "tiny"},
        "optim": {"base_lr": 0.1, "warmup_epochs": 1 if quick else 2, "min_lr": 1.0e-4},
    }


def plan(
    quick: bool, ablations: bool, fractions: tuple[float, ...] | None = None
) -> list[dict[str, Any]]:
    """Every run of the sweep: name, group, fraction, seed, overrides.

    The fraction table has three columns: the baseline, the method and the method without
    STR (the ``no-str`` ablation, run at every fraction). Order: every cell's first seed,
    then the table's other seeds, then the other ablations' (``--quick``: one seed for the
    ablations), so a sweep cut short still has every cell and the table first.
    """
    seeds = SEEDS[:2] if quick else SEEDS
    fractions = tuple(fractions or ((0.3, 1.0) if quick else FRACTIONS))
    ablation_fraction = 0.3 if quick else ABLATION_FRACTION
    cells = [
        (mode, fraction, [f"mode={mode}"])
        for fraction in fractions
        for mode in ("baseline", "transfer")
    ]
    if ablations:
        cells += [
            (key, ablation_fraction, ["mode=transfer", *overrides])
            for key, (_, overrides) in ABLATIONS.items()
        ]
        # the method without STR at every fraction: the table's third column
        cells += [
            ("no-str", fraction, ["mode=transfer", *ABLATIONS["no-str"][1]])
            for fraction in fractions
            if fraction != ablation_fraction
        ]
    table = [c for c in cells if c[0] not in ABLATIONS or (c[0] == "no-str" and not quick)]
    order = [(seeds[0], cell) for cell in cells]
    order += [(seed, cell) for seed in seeds[1:] for cell in table]
    order += [(seed, cell) for seed in seeds[1:] for cell in cells if cell not in table]
    runs = []
    for seed, (group, fraction, overrides) in order:
        if quick and seed > 0 and group in ABLATIONS:
            continue  # one seed per ablation keeps the quick sweep short
        runs.append(
            {
                "name": f"{group}-e{round(fraction * 100)}-s{seed}",
                "group": group,
                "fraction": fraction,
                "seed": seed,
                "overrides": overrides,
            }
        )
    return runs


def _dataset(base: dict[str, Any], fraction: float, channel: str, out: str):
    """The dataset of one run, its event samples framed once into ``<out>/frames/`` and
    memory-mapped from there (reading and framing per access would dominate the time)."""
    from snn_transfer.events.datasets import load_dataset

    options = {**base["data"]["options"], "event_fraction": fraction, "channel": channel}
    data = load_dataset(
        base["data"]["dataset"], time_steps=base["time_steps"], seed=base["seed"], **options
    )
    stem = Path(data.info["event_file"]).stem
    data.preload(Path(out) / "frames" / f"{stem}-T{base['time_steps']}.npy")
    return data


def train_one(job: tuple[dict[str, Any], dict[str, Any], str]) -> dict[str, Any]:
    """Train one run (in a worker process) and return its row."""
    base, run, out = job
    import torch

    from snn_transfer.config import apply_overrides, merge
    from snn_transfer.settings import TransferConfig
    from snn_transfer.trainer import Trainer

    row = finished_row(base, run, out)  # a finished run is reported, not loaded again
    if row is None:
        torch.set_num_threads(1)
        overrides = [*run["overrides"], f"seed={run['seed']}"]
        overrides.append(f"data.options.event_fraction={run['fraction']}")
        config = TransferConfig.from_dict(apply_overrides(merge({}, base), overrides))
        # the data split is fixed (data seed 0); the run's seed drives the training only
        data = _dataset(base, run["fraction"], config.data.options.get("channel", "v"), out)
        run_dir = Path(out) / "runs" / run["name"]
        if run_dir.exists():
            shutil.rmtree(run_dir)  # an interrupted run starts again
        Trainer(config, run_dir, data=data, progress=False, quiet=True).fit()
        row = finished_row(base, run, out)
    print(
        f"{row['name']:<24} labelled {row['labelled']:>5}  best epoch {row['best_epoch']:>3}  "
        f"val {row['val_acc']:.3f}  test {row['test_acc']:.3f}  ({row['seconds']:.0f} s)",
        flush=True,
    )
    return row


def finished_row(base: dict[str, Any], run: dict[str, Any], out: str) -> dict[str, Any] | None:
    """The row of a run already trained into ``<out>/runs/<name>`` (None if unfinished)."""
    run_dir = Path(out) / "runs" / run["name"]
    result = run_dir / "result.json"
    done = json.loads(result.read_text()) if result.is_file() else {}
    if done.get("epochs_done") != base["epochs"]:
        return None
    meta = json.loads((run_dir / "meta.json").read_text())["dataset"]
    # wall time: from the run's config (written first) to its last result
    seconds = result.stat().st_mtime - (run_dir / "config.yaml").stat().st_mtime
    return {
        **{k: run[k] for k in ("name", "group", "fraction", "seed")},
        "labelled": meta["event_samples"]["train"],
        "static": meta["static_images"] if run["group"] != "baseline" else 0,
        "best_epoch": done["best_epoch"],
        "val_acc": done["val_acc"],
        "test_acc": done["test_acc"],
        "seconds": round(seconds, 1),
    }


def _stats(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def summarise(rows: list[dict[str, Any]]) -> dict[tuple[str, float], dict[str, Any]]:
    groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["group"], row["fraction"]), []).append(row)
    table = {}
    for key, members in groups.items():
        mean, std = _stats([m["test_acc"] * 100 for m in members])
        table[key] = {
            "mean": mean,
            "std": std,
            "n": len(members),
            "labelled": members[0]["labelled"],
            "static": members[0]["static"],
            "per_seed": [
                round(m["test_acc"] * 100, 2) for m in sorted(members, key=lambda m: m["seed"])
            ],
        }
    return table


def _plot(table, fractions, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.5), dpi=110)
    labels = {
        "baseline": ("baseline (events only)", "tab:gray"),
        "transfer": ("method (+ static images)", "tab:red"),
        "no-str": ("method, STR off", "tab:blue"),
    }
    for group, (label, color) in labels.items():
        xs = [f * 100 for f in fractions if (group, f) in table]
        if len(xs) < 2:
            continue
        means = [table[(group, f)]["mean"] for f in fractions if (group, f) in table]
        stds = [table[(group, f)]["std"] for f in fractions if (group, f) in table]
        ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, color=color, label=label)
    ax.set_xscale("log")
    ax.set_xticks([f * 100 for f in fractions], [f"{round(f * 100)} %" for f in fractions])
    ax.set_xlabel("labelled event training data")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _pm(cell: dict[str, Any]) -> str:
    """``mean ± std`` over seeds (the mean alone for one seed)."""
    return f"{cell['mean']:.2f} ± {cell['std']:.2f}" if cell["n"] > 1 else f"{cell['mean']:.2f}"


def report(rows, base, args, minutes: float, out: Path, planned: int | None = None) -> str:
    table = summarise(rows)
    main = [r for r in rows if r["group"] in ("baseline", "transfer")]
    fractions = sorted({r["fraction"] for r in main})
    opts = base["data"]["options"]
    n_seeds = len({r["seed"] for r in main})
    what = (
        "real Fashion-MNIST (static) with emulated events of disjoint Fashion-MNIST images"
        if base["data"]["dataset"] == "fashion-mnist"
        else "scikit-learn's digits (static) with emulated events of disjoint digits"
    )
    lines = [
        f"Static images: {what}. Model `tiny`, T = {base['time_steps']}, 34x34, batch "
        f"{base['data']['batch_size']}, {base['epochs']} epochs of "
        f"{base['data']['epoch_samples']} samples for every run, static scale "
        f"{opts['static_scale']}; {n_seeds} training seed{'s' if n_seeds != 1 else ''} per cell of the fraction table (data split fixed); test "
        "accuracy at the epoch picked on the validation split, mean ± standard deviation "
        "over seeds. Reproduce: `python scripts/transfer_gain.py"
        f"{' --quick' if args.quick else ''}"
        f"{' --dataset ' + base['data']['dataset'] if base['data']['dataset'] != 'fashion-mnist' else ''}"
        f" --jobs {args.jobs}` ({minutes:.0f} min on this machine).",
        *(
            [
                "",
                f"This page reports the {len(rows)} of {planned} planned runs that finished "
                "(the sweep was stopped; the ablation table lists the seeds it has).",
            ]
            if planned and len(rows) < planned
            else []
        ),
        "",
        "| labelled event data | labelled samples | baseline (events only) | method (+ static) "
        "| gain (points) | method, STR off | gain (points) |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in fractions:
        b, m = table.get(("baseline", f)), table.get(("transfer", f))
        if not b or not m:
            continue
        n = table.get(("no-str", f))
        no_str = f"{_pm(n)} | {n['mean'] - b['mean']:+.2f}" if n else "– | –"
        lines.append(
            f"| {round(f * 100)} % | {b['labelled']} | {_pm(b)} | {_pm(m)} | "
            f"{m['mean'] - b['mean']:+.2f} | {no_str} |"
        )
    static = max(cell["static"] for cell in table.values())
    lines += ["", f"Static pool of the method: {static} images."]
    _plot(table, fractions, out / "transfer_gain.png")
    lines += ["", "![transfer gain](transfer_gain.png)", ""]
    ablation_rows = [k for k in ABLATIONS if any(r["group"] == k for r in rows)]
    if ablation_rows:
        f = min(r["fraction"] for r in rows if r["group"] in ablation_rows)
        full = table.get(("transfer", f))
        lines += [
            f"Ablations on {round(f * 100)} % of the event data:",
            "",
            "| variant | test accuracy | vs full method | per seed |",
            "|---|---|---|---|",
        ]
        for key in ("baseline", "transfer", *ablation_rows):
            cell = table.get((key, f))
            if not cell:
                continue
            label = {"baseline": "baseline (events only)", "transfer": "full method"}.get(
                key, ABLATIONS.get(key, (key,))[0]
            )
            delta = f"{cell['mean'] - full['mean']:+.2f}" if full and key != "transfer" else ""
            lines.append(
                f"| {label} | {_pm(cell)} | {delta} | "
                f"{', '.join(f'{v:.1f}' for v in cell['per_seed'])} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="fashion-mnist", choices=("fashion-mnist", "digits"))
    parser.add_argument("--root", help=f"Fashion-MNIST IDX folder (default {FASHION_ROOT})")
    parser.add_argument("--out", default="benchmarks", help="results folder (default benchmarks)")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at once, one thread each")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the tests")
    parser.add_argument(
        "--fractions",
        help="comma-separated event fractions (default 0.1,0.3,1; add e.g. 0.02 for ~7 "
        "labelled recordings per class, the paper's 10 %% of N-Caltech101 per class)",
    )
    parser.add_argument("--no-ablations", action="store_true", help="the fraction table only")
    parser.add_argument("--only", help="comma-separated groups to run (e.g. baseline,transfer)")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="train nothing; report the runs already finished under --out",
    )
    args = parser.parse_args(argv)

    out = Path(args.out)
    base = base_config(args.dataset, args.root, args.quick)
    if args.dataset == "fashion-mnist":
        root = Path(base["data"]["options"]["root"])
        if not root.is_dir():
            sys.exit(
                f"error: no Fashion-MNIST at {root}; install it with `apt install "
                "dataset-fashion-mnist` or pass --root <folder with the IDX files>"
            )
    fractions = tuple(float(f) for f in args.fractions.split(",")) if args.fractions else None
    runs = plan(args.quick, not args.no_ablations, fractions)
    if args.only:
        keep = set(args.only.split(","))
        runs = [r for r in runs if r["group"] in keep]
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    if args.report_only:
        rows = [row for run in runs if (row := finished_row(base, run, str(out)))]
        if not rows:
            sys.exit(f"error: no finished run under {out / 'runs'}; run the sweep first")
        print(f"{len(rows)} of {len(runs)} runs finished", flush=True)
        minutes = sum(r["seconds"] for r in rows) / 60 / max(args.jobs, 1)
        return _write(rows, base, args, minutes, out, planned=len(runs))
    # emulate and frame once, in this process, before the workers start (they share both)
    _dataset(base, 1.0, "v", str(out))
    print(f"{len(runs)} runs, {args.jobs} at a time", flush=True)
    jobs = [(base, run, str(out)) for run in runs]
    if args.jobs > 1:
        with mp.get_context("spawn").Pool(args.jobs, maxtasksperchild=1) as pool:
            rows = pool.map(train_one, jobs, chunksize=1)
    else:
        rows = [train_one(job) for job in jobs]
    minutes = (time.time() - started) / 60
    return _write(rows, base, args, minutes, out)


def _write(rows, base, args, minutes: float, out: Path, planned: int | None = None) -> int:
    stem = "transfer_gain" if not args.quick else "transfer_gain_quick"
    text = report(rows, base, args, minutes, out, planned)
    (out / f"{stem}.json").write_text(json.dumps({"config": base, "runs": rows}, indent=1))
    tmp = out / f".{stem}.md.partial"
    tmp.write_text(text)
    os.replace(tmp, out / f"{stem}.md")
    print()
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
