"""The shots benchmark: with k labelled event recordings per class, which use of static images
helps, and by how much, against the baselines a user would try?

Data (offline, real images): ``fashion-mnist`` (Debian ``dataset-fashion-mnist``; 1,000
static images per class and 300 other images per class turned into event recordings, split
into 60 training, 30 validation and 210 test recordings per class) and scikit-learn's
``digits`` (half of each class static, half recordings split 60/20/20), plus ``mnist`` when
``--mnist-root`` gives its IDX files (as fashion-mnist). The recordings
come from the saccade emulator set up as a *different sensor* than the emulator's defaults
(the ``emulator`` option of the ``demo`` recipe: other thresholds, path, noise and refractory
period), so the arm that feeds static images through the emulator with its defaults sees
event-like inputs that do not match the recordings, as with a real camera.

For every dataset, k in ``--shots`` (default 1, 3, 8, 30; nested subsets of the training
recordings) and every arm (``ARMS``), ``--seeds`` training seeds (3; 5 on digits, whose
validation and test splits are small). Every run has the same event-branch budget (epochs x
samples per epoch of labelled recordings; pretraining arms add static epochs before it) and
the same model (``tiny``, T = 4, 34x34); the data split is fixed (seed 0), the seed drives
the training. The epoch is picked on validation and test is reported for it.

Every run lands in ``<out>/runs/<name>/`` and is skipped when finished (``--report-only``
trains nothing). ``--jobs 2`` trains two runs at a time on one thread each.
``--augment-study`` runs the events-only arm with each candidate augmentation first (what
helps the baseline is what the sweep then uses in every arm).

    python scripts/transfer_gain.py --jobs 2               # the full sweep
    python scripts/transfer_gain.py --quick --out /tmp/tg  # minutes, for the tests
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import multiprocessing as mp
import os
import shutil
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import transfer_gain_report as report  # noqa: E402

FASHION_ROOT = "/usr/share/datasets/fashion-mnist"
SHOTS = (1, 3, 8, 30)
SEEDS = {"fashion-mnist": 3, "digits": 5, "mnist": 3}
PRETRAIN_EPOCHS = 10
# arm -> (label, overrides on top of the base config); "default" is filled from the recipe
ARMS: dict[str, tuple[str, list[str]]] = {
    "events-only": ("events only (baseline)", ["mode=baseline"]),
    "pretrain-finetune": (
        "pretrain on static images, then fine-tune",
        ["mode=pretrain-finetune", f"pretrain_epochs={PRETRAIN_EPOCHS}"],
    ),
    "paper": ("the paper's method (CKA, learned STR)", []),
    "paper-no-str": ("method, STR off", ["loss.str_mode=none"]),
    "multi-task": ("two branches, no alignment", ["loss.alignment=none", "loss.str_mode=none"]),
    "mmd": ("method with MMD", ["loss.alignment=mmd"]),
    "coral": ("method with CORAL", ["loss.alignment=coral"]),
    "shared-head": ("method, shared head", ["model.head=shared"]),
    "pretrain-transfer": (
        "static pretraining, then the method",
        [f"pretrain_epochs={PRETRAIN_EPOCHS}"],
    ),
    "str-floor": ("method, STR floor 0.5", ["loss.str_floor=0.5"]),
    "cka-debiased": ("method, debiased CKA", ["loss.alignment=cka_debiased"]),
    "emulated-static": (
        "method, static images emulated",
        ["data.options.static_input=emulated"],
    ),
    "step-mix": ("method, time-step mixing", ["sliding.mix=step"]),
    "pretrain-finetune-emulated": (
        "pretrain on emulated static, then fine-tune",
        [
            "mode=pretrain-finetune",
            f"pretrain_epochs={PRETRAIN_EPOCHS}",
            "data.options.static_input=emulated",
        ],
    ),
    "default": ("package default (transfer recipe)", []),
}
AUGMENTS = ("", "crop(2)", "jitter(1)", "drop(0.2)", "drop_area(0.2),drop_time(0.2)")


# what the package's transfer default may change against the paper's method
DEFAULT_KEYS = (
    "pretrain_epochs",
    "model.head",
    "loss.alignment",
    "loss.str_mode",
    "loss.str_floor",
    "sliding.kind",
    "sliding.mix",
    "data.options.static_input",
)


def recipe_defaults() -> tuple[dict[str, Any], list[str]]:
    """The recordings' emulator (the ``demo`` recipe's ``emulator`` option) and the
    overrides that make the base config the shipped ``transfer`` default: the recipe's
    values of ``DEFAULT_KEYS``."""
    from snn_transfer.recipes import resolve

    data = resolve("demo").data
    overrides = []
    for key in DEFAULT_KEYS:
        node: Any = data
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            overrides.append(f"{key}={node}")
    return data["data"]["options"].get("emulator") or {}, overrides


def base_config(dataset: str, root: str | None, quick: bool) -> dict[str, Any]:
    """The setup every run shares; a run differs from it only by its arm's overrides."""
    emulator, _ = recipe_defaults()
    if dataset == "digits":
        options: dict[str, Any] = {"per_class": 40} if quick else {}
    else:
        # 1,000 static images and 300 recordings per class: 60 train (k <= 30 are drawn
        # from them), 30 validation and 210 test recordings per class
        options = {
            "root": root or FASHION_ROOT,
            "per_class": 80 if quick else 1300,
            "static_share": 0.5 if quick else 1000 / 1300,
            "event_splits": {"train": 0.2, "val": 0.1, "test": 0.7},
        }
    options.update(static_scale=4.0, workers=2, progress=False, emulator=emulator)
    return {
        "mode": "transfer",
        "epochs": 2 if quick else 20,
        "time_steps": 4,
        "seed": 0,
        "threads": 1,
        "keep_checkpoints": 1,
        "test_every_epoch": False,
        "data": {
            "dataset": dataset,
            "options": options,
            "batch_size": 16 if quick else 32,
            "eval_batch_size": 64,
            "epoch_samples": 32 if quick else 320,
        },
        "model": {"name": "tiny"},
        "optim": {"base_lr": 0.1, "warmup_epochs": 1 if quick else 2, "min_lr": 1.0e-4},
    }


def arm_overrides(arm: str) -> list[str]:
    if arm == "default":
        return recipe_defaults()[1]
    return list(ARMS[arm][1])


def run_name(dataset: str, arm: str, shots: int, seed: int, augment: str) -> str:
    """Unique per setting: the arm's overrides and the augmentation are hashed in, so a
    changed default or augmentation trains anew instead of reusing stale runs."""
    text = json.dumps([arm_overrides(arm), augment])
    digest = hashlib.sha256(text.encode()).hexdigest()[:6]
    return f"{dataset}-{arm}-k{shots}-s{seed}-{digest}"


def plan(args) -> list[dict[str, Any]]:
    """Every run: seeds outermost, so a sweep cut short has every cell's first seeds."""
    runs = []
    most = max(args.seeds or SEEDS[d] for d in args.datasets)
    for seed in range(most):
        for dataset in args.datasets:
            if seed >= (args.seeds or SEEDS[dataset]):
                continue
            for shots in args.shots:
                for arm in args.arms:
                    for augment in args.augments:
                        runs.append(
                            {
                                "name": run_name(dataset, arm, shots, seed, augment),
                                "dataset": dataset,
                                "arm": arm,
                                "shots": shots,
                                "seed": seed,
                                "augment": augment,
                            }
                        )
    return runs


def _dataset(base: dict[str, Any], run: dict[str, Any], overrides: list[str], out: str):
    """The dataset of one run, its recordings framed once into ``<out>/frames/`` and
    memory-mapped from there."""
    from snn_transfer.config_loader import apply_overrides
    from snn_transfer.events.datasets import load_dataset

    config = apply_overrides(copy.deepcopy(base), overrides)
    options = {**config["data"]["options"], "shots": run["shots"]}
    data = load_dataset(
        config["data"]["dataset"], time_steps=config["time_steps"], seed=0, **options
    )
    stem = Path(data.info["event_file"]).stem
    data.preload(Path(out) / "frames" / f"{stem}-T{config['time_steps']}.npy")
    return data


def train_one(job: tuple[dict[str, Any], dict[str, Any], str]) -> dict[str, Any]:
    """Train one run (in a worker process) and return its row."""
    base, run, out = job
    import torch

    from snn_transfer.config_loader import apply_overrides
    from snn_transfer.run_config import TransferConfig
    from snn_transfer.trainer import Trainer

    row = finished_row(run, out)
    if row is None:
        torch.set_num_threads(1)
        overrides = [*arm_overrides(run["arm"]), f"seed={run['seed']}"]
        if run["augment"]:
            overrides.append(f"data.options.augment={run['augment']!r}")
        overrides.append(f"data.options.shots={run['shots']}")
        setup = apply_overrides(copy.deepcopy(base[run["dataset"]]), overrides)
        config = TransferConfig.from_dict(setup)
        data = _dataset(base[run["dataset"]], run, overrides, out)
        run_dir = Path(out) / "runs" / run["name"]
        if run_dir.exists():
            shutil.rmtree(run_dir)  # an interrupted run starts again
        Trainer(config, run_dir, data=data, progress=False, quiet=True).fit()
        row = finished_row(run, out)
    print(
        f"{row['name']:<52} val {row['val_acc']:.3f}  test {row['test_acc']:.3f}  "
        f"({row['seconds']:.0f} s)",
        flush=True,
    )
    return row


def finished_row(run: dict[str, Any], out: str) -> dict[str, Any] | None:
    """The row of a run already trained into ``<out>/runs/<name>`` (None if unfinished)."""
    run_dir = Path(out) / "runs" / run["name"]
    result = run_dir / "result.json"
    done = json.loads(result.read_text()) if result.is_file() else {}
    config = run_dir / "config.yaml"
    if not done or done.get("last_epoch") is None or not config.is_file():
        return None
    import yaml

    total = yaml.safe_load(config.read_text())
    if done["epochs_done"] != total["epochs"] + total["pretrain_epochs"]:
        return None
    seconds = result.stat().st_mtime - config.stat().st_mtime
    return {
        **run,
        "best_epoch": done["best_epoch"],
        "val_acc": done["val_acc"],
        "test_acc": done["test_acc"],
        "seconds": round(seconds, 1),
    }


def write_report(rows, base, args, minutes: float, out: Path, planned: int) -> str:
    arms = {a: ARMS[a][0] for a in args.arms}
    stem = "transfer_gain_quick" if args.quick else "transfer_gain"
    if args.augment_study:
        stem += "_augment"
        arms = {}
        for augment in args.augments:
            arms[augment or "none"] = f"events only, augment {augment or 'none'}"
        rows = [{**r, "arm": r["augment"] or "none"} for r in rows]
    first = base[args.datasets[0]]
    lines = [
        f"Model `tiny`, T = {first['time_steps']}, 34x34; every run {first['epochs']} epochs of "
        f"{first['data']['epoch_samples']} labelled event samples (batch "
        f"{first['data']['batch_size']}); pretraining arms add {PRETRAIN_EPOCHS} epochs on static "
        f"images first. Data split fixed, seeds vary the training; test accuracy at the epoch "
        f"picked on validation. Recordings emulated as another sensor than the emulator's "
        f"defaults. {len(rows)} of {planned} planned runs; "
        f"run times add up to {minutes:.0f} min (about {minutes / max(args.jobs, 1):.0f} min of "
        f"wall time {args.jobs} at a time). Reproduce: `python "
        f"scripts/transfer_gain.py --jobs {args.jobs}{' --quick' if args.quick else ''}"
        f"{' --augment-study' if args.augment_study else ''}`.",
        "",
    ]
    if not args.augment_study:
        aug = first["data"]["options"].get("augment", "")
        lines += [f"Augmentation in every arm: {aug or 'none'}.", ""]
        lines += ["Goal of the default (paired over seeds, 95 % intervals):", ""]
        lines += report.goal_lines(rows, args.datasets, "default") + [""]
    for dataset in args.datasets:
        seeds = args.seeds or SEEDS[dataset]
        refs = ("none",) if args.augment_study else ("events-only", "pretrain-finetune")
        lines += [f"### {dataset}", ""]
        lines += report.dataset_section(rows, dataset, arms, list(args.shots), seeds, refs) + [""]
    report.plot(rows, args.datasets, arms, out / f"{stem}.png")
    lines += [f"![accuracy against k]({stem}.png)", ""]
    text = "\n".join(lines)
    (out / f"{stem}.json").write_text(json.dumps({"config": base, "runs": rows}, indent=1))
    tmp = out / f".{stem}.md.partial"
    tmp.write_text(text)
    os.replace(tmp, out / f"{stem}.md")
    return text


def parse(argv: list[str] | None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="fashion-mnist,digits")
    parser.add_argument("--fashion-root", default=None, help=f"default {FASHION_ROOT}")
    parser.add_argument("--mnist-root", help="MNIST IDX folder: adds the mnist dataset")
    parser.add_argument("--shots", default=",".join(map(str, SHOTS)))
    parser.add_argument("--arms", default=",".join(ARMS), help="comma-separated arms")
    parser.add_argument("--seeds", type=int, help="seeds per cell (default 3; 5 on digits)")
    parser.add_argument("--augment", default=None, help="augmentation in every arm")
    parser.add_argument("--augment-study", action="store_true")
    parser.add_argument("--out", default="benchmarks")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the tests")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args(argv)
    args.datasets = [d for d in args.datasets.split(",") if d]
    if args.mnist_root and "mnist" not in args.datasets:
        args.datasets.append("mnist")
    args.shots = tuple(int(k) for k in args.shots.split(","))
    args.arms = [a for a in args.arms.split(",") if a]
    unknown = sorted(set(args.arms) - set(ARMS))
    if unknown:
        parser.error(f"unknown arms {unknown}; choose from {', '.join(ARMS)}")
    if args.quick:
        args.shots = tuple(k for k in args.shots if k <= 3) or (1,)
        args.seeds = args.seeds or 2
    if args.augment_study:
        args.arms = ["events-only"]
        args.augments = list(AUGMENTS)
    else:
        args.augments = [args.augment if args.augment is not None else chosen_augment(args)]
    return args


def chosen_augment(args) -> str:
    """The augmentation the recipe turns on (what helped the baseline)."""
    from snn_transfer.recipes import resolve

    value = resolve("demo").data["data"]["options"].get("augment", "")
    return ",".join(value) if isinstance(value, list) else value


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    out = Path(args.out)
    roots = {"fashion-mnist": args.fashion_root, "mnist": args.mnist_root, "digits": None}
    base = {}
    for dataset in args.datasets:
        base[dataset] = base_config(dataset, roots[dataset], args.quick)
        root = base[dataset]["data"]["options"].get("root")
        if root and not Path(root).is_dir():
            sys.exit(
                f"error: no {dataset} IDX files at {root}; install dataset-fashion-mnist or pass "
                f"--{dataset.split('-')[0]}-root <folder>"
            )
    runs = plan(args)
    out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        rows = [row for run in runs if (row := finished_row(run, str(out)))]
        if not rows:
            sys.exit(f"error: no finished run under {out / 'runs'}; run the sweep first")
    else:
        # emulate and frame once, in this process, before the workers share the files
        for dataset in args.datasets:
            for static_input in ("image", "emulated"):
                _dataset(
                    base[dataset],
                    {"shots": 1},
                    [f"data.options.static_input={static_input}"],
                    str(out),
                )
        print(f"{len(runs)} runs, {args.jobs} at a time", flush=True)
        jobs = [(base, run, str(out)) for run in runs]
        if args.jobs > 1:
            with mp.get_context("spawn").Pool(args.jobs, maxtasksperchild=1) as pool:
                rows = pool.map(train_one, jobs, chunksize=1)
        else:
            rows = [train_one(job) for job in jobs]
    # the runs' own times (a resumed sweep's earlier runs included), not this call's wall time
    minutes = sum(r["seconds"] for r in rows) / 60
    text = write_report(rows, base, args, minutes, out, len(runs))
    print()
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
