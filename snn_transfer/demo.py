"""The offline demo: does the package's default beat what a user would try without it?

On scikit-learn's digits (static images) with emulated event recordings of other digits
(``demo`` recipe: 3 labelled recordings per class, ``tiny``, T = 4, CPU), three arms with the
same event-branch budget and the same seeds:

* ``events-only``: the event recordings alone (the baseline);
* ``pretrain-finetune``: static images through the network first, then the recordings;
* ``default``: the package's transfer default (the ``demo`` recipe as shipped).

Every arm is trained with each seed (0, 1, 2); the report gives per-seed test accuracies (at
the epoch picked on the validation split) and the default's paired per-seed differences
against both others with a 95 % interval, saying how many seeds they rest on. Two runs train
at a time, one thread each. ``--quick`` is a smoke run of the same code at toy sizes: it says
so and prints no comparison.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import time
from pathlib import Path
from typing import Any

import numpy as np

SEEDS = (0, 1, 2)
QUICK = [
    "epochs=2",
    "data.epoch_samples=32",
    "data.batch_size=16",
    "data.options.per_class=30",
]
QUICK_SEEDS = (0,)


def arms(recipe) -> dict[str, list[str]]:
    """Arm -> overrides of the ``demo`` recipe."""
    pretrain = recipe.data.get("pretrain_epochs") or 10
    return {
        "events-only": ["mode=baseline", "pretrain_epochs=0", "data.options.static_input=image"],
        "pretrain-finetune": [
            "mode=pretrain-finetune",
            f"pretrain_epochs={pretrain}",
            "data.options.static_input=image",
        ],
        "default": [],
    }


def _train(job: tuple[str, int, list[str], str, bool]) -> dict[str, Any]:
    """One run in a worker process: ``(arm, seed, overrides, out, quick)`` -> its result."""
    arm, seed, overrides, out, quick = job
    import torch

    from snn_transfer.recipes import resolve
    from snn_transfer.run_config import build_dataset
    from snn_transfer.trainer import Trainer

    torch.set_num_threads(1)
    config = resolve("demo").config([*(QUICK if quick else []), *overrides, f"seed={seed}"])
    # the data split is the recipe's (seed 0); the run's seed drives the training
    data = build_dataset(dataclasses.replace(config, seed=0), progress=False)
    data.preload()
    trainer = Trainer(
        config, Path(out) / f"{arm}-seed{seed}", data=data, progress=False, quiet=True
    )
    result = trainer.fit()
    return {"arm": arm, "seed": seed, **result, "history": trainer.history}


def _plot_curves(runs: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"events-only": "tab:gray", "pretrain-finetune": "tab:blue", "default": "tab:red"}
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    for run in runs:
        rows = run["history"]
        label = f"{run['arm']}" if run["seed"] == runs[0]["seed"] else None
        ax.plot(
            [r["epoch"] for r in rows],
            [r["val_acc"] for r in rows],
            color=colors.get(run["arm"], "black"),
            alpha=0.8,
            lw=1,
            label=label,
        )
    ax.set_xlabel("epoch (pretraining epochs first)")
    ax.set_ylabel("validation accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_sigma(rows: list[dict[str, Any]], path: Path) -> bool:
    keys = sorted((k for k in rows[-1] if k.startswith("sigma_")), key=lambda k: int(k[6:]))
    if not keys:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    rows = [r for r in rows if keys[0] in r]
    for key in keys:
        ax.plot([r["epoch"] for r in rows], [r[key] for r in rows], label=f"t = {key[6:]}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("sigma(eta_t)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def _samples_image(data, path: Path, count: int = 4) -> None:
    """Event frames of a few training samples, each above its static partner as the default
    feeds it to the network."""
    from snn_transfer.events.render import render, save_image

    paired = data.paired(seed=0)
    rows = []
    for i in range(min(count, len(paired))):
        events, static, _ = paired[i]
        top = render(events)
        bottom = render(static / max(float(static.max()), 1e-6) * max(float(events.max()), 1.0))
        rows.append(np.concatenate([top, bottom], axis=0))
    gap = np.full((rows[0].shape[0], 6, 3), 255, np.uint8)
    grid = rows[0]
    for row in rows[1:]:
        grid = np.concatenate([grid, gap, row], axis=1)
    save_image(grid, path)


def comparison(runs: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """The table of test accuracies per arm and seed, and the default's paired differences."""
    from snn_transfer.paired_stats import format_difference, paired_difference

    by_arm: dict[str, dict[int, float]] = {}
    for run in runs:
        by_arm.setdefault(run["arm"], {})[run["seed"]] = run["test_acc"] * 100
    seeds = sorted({run["seed"] for run in runs})
    table = [
        "| arm | " + " | ".join(f"seed {s}" for s in seeds) + " | mean |",
        "|---|" + "---|" * (len(seeds) + 1),
    ]
    for arm, values in by_arm.items():
        cells = [f"{values[s]:.1f}" if s in values else "–" for s in seeds]
        mean = sum(values.values()) / len(values)
        table.append(f"| {arm} | " + " | ".join(cells) + f" | {mean:.1f} |")
    lines = []
    for other in ("events-only", "pretrain-finetune"):
        d = paired_difference(by_arm.get("default", {}), by_arm.get(other, {}))
        if d is not None:
            lines.append(
                f"default - {other}: {format_difference(d, ' points')} (95 % interval over the "
                f"{d['n']} seeds {', '.join(map(str, d['seeds']))}, paired per seed)"
            )
    return table, lines


def run_demo(out: Path, *, quick: bool = False, progress: bool = True, jobs: int = 2) -> list:
    """Train every arm with every seed into ``out/<arm>-seed<k>`` and write
    ``out/report.md``. Returns the runs' results."""
    from snn_transfer.recipes import resolve
    from snn_transfer.run_config import build_dataset

    started = time.time()
    out = Path(out)
    recipe = resolve("demo")
    config = recipe.config(QUICK if quick else [])
    # emulate the recordings (and the static images) once, before the workers share them
    data = build_dataset(config, progress=progress)
    out.mkdir(parents=True, exist_ok=True)
    seeds = QUICK_SEEDS if quick else SEEDS
    jobs_list = [
        (arm, seed, overrides, str(out), quick)
        for seed in seeds
        for arm, overrides in arms(recipe).items()
    ]
    print(
        f"{len(jobs_list)} runs ({len(arms(recipe))} arms x seeds {', '.join(map(str, seeds))}), "
        f"{min(jobs, len(jobs_list))} at a time; {len(data.train)} labelled event recordings, "
        f"{len(data.static_pool)} static images",
        flush=True,
    )
    runs = []
    context = mp.get_context("spawn")
    with context.Pool(max(1, min(jobs, len(jobs_list))), maxtasksperchild=1) as pool:
        for result in pool.imap(_train, jobs_list):
            runs.append(result)
            print(
                f"  {result['arm']:<18} seed {result['seed']}  val {result['val_acc']:.3f}  "
                f"test {result['test_acc']:.3f}",
                flush=True,
            )
    _plot_curves(runs, out / "curves.png")
    default = [r for r in runs if r["arm"] == "default"]
    has_sigma = _plot_sigma(default[0]["history"], out / "sigma.png")
    _samples_image(data, out / "samples.png")
    table, differences = comparison(runs)
    minutes = (time.time() - started) / 60
    what = (
        f"Offline, on scikit-learn's digits: {len(data.train)} labelled event recordings "
        f"({config.data.options.get('shots', '?')} per class, emulated as another sensor than "
        f"the emulator's defaults), {len(data.static_pool)} static images of the same classes, "
        f"`tiny`, T = {config.time_steps}, {config.epochs} epochs of event data per run. The "
        "epoch is picked on the validation split; test accuracy (%) at that epoch."
    )
    if quick:
        verdict = [
            "This was a smoke run (--quick): toy sizes and epochs, so its accuracies are not "
            "results and no comparison is made. Run `snn-transfer demo` for the measurement."
        ]
    else:
        verdict = differences or ["no comparison: an arm has no finished run"]
    report = [
        "# snn-transfer demo",
        "",
        what,
        "",
        *table,
        "",
        *verdict,
        "",
        f"Total time {minutes:.1f} min.",
        "",
        "## Validation accuracy per epoch",
        "",
        "![accuracy curves](curves.png)",
        "",
        "## Event samples (top) and their static partners as the default feeds them (bottom)",
        "",
        "![samples](samples.png)",
        "",
    ]
    if has_sigma:
        report += [
            "## STR coefficients sigma(eta_t) of the default, seed 0",
            "",
            "![sigma](sigma.png)",
            "",
        ]
    (out / "report.md").write_text("\n".join(report))
    print()
    if quick:
        print(verdict[0])
    else:
        print("\n".join(table))
        print()
        print("\n".join(verdict))
    print(f"\nreport: {out / 'report.md'} ({minutes:.1f} min)")
    return runs
