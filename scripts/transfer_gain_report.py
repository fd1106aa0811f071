"""The report of the shots benchmark (``scripts/transfer_gain.py``): tables, paired intervals,
the plot.

Every cell is an (arm, dataset, k) with one row per training seed. A comparison of two arms
uses only the seeds both have, as paired per-seed differences: their mean and a 95 %
Student-t interval (n - 1 degrees of freedom). A cell with fewer seeds than planned says so.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from snn_transfer.paired_stats import format_difference, paired_difference, t_interval


def cells(rows: list[dict[str, Any]], key: str = "test_acc") -> dict[tuple, dict[int, float]]:
    """``(dataset, arm, k) -> {seed: accuracy in %}``."""
    out: dict[tuple, dict[int, float]] = {}
    for row in rows:
        out.setdefault((row["dataset"], row["arm"], row["shots"]), {})[row["seed"]] = row[key] * 100
    return out


def _sd(values: list[float]) -> float:
    n = len(values)
    if n < 2:
        return 0.0
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def _cell_text(values: dict[int, float], planned: int) -> str:
    v = list(values.values())
    text = f"{sum(v) / len(v):.1f} ± {_sd(v):.1f}" if len(v) > 1 else f"{v[0]:.1f}"
    return text if len(v) >= planned else f"{text} ({len(v)}/{planned} seeds)"


def dataset_section(
    rows: list[dict[str, Any]],
    dataset: str,
    arms: dict[str, str],
    shots: list[int],
    planned_seeds: int,
    references: tuple[str, str] = ("events-only", "pretrain-finetune"),
) -> list[str]:
    """Three tables for one dataset: test accuracy per arm and k; paired differences against
    each reference arm; validation accuracy (what the default is chosen on)."""
    test, val = cells(rows), cells(rows, "val_acc")
    present = [a for a in arms if any((dataset, a, k) in test for k in shots)]
    header = "| arm | " + " | ".join(f"k = {k}" for k in shots) + " |"
    rule = "|---|" + "---|" * len(shots)
    lines = ["Test accuracy (%), mean ± sd over seeds, at the epoch picked on validation:", ""]
    lines += [header, rule]
    for arm in present:
        parts = [
            _cell_text(test[(dataset, arm, k)], planned_seeds) if (dataset, arm, k) in test else "–"
            for k in shots
        ]
        lines.append(f"| {arms[arm]} | " + " | ".join(parts) + " |")
    for ref in references:
        if not any((dataset, ref, k) in test for k in shots):
            continue
        lines += [
            "",
            f"Paired difference against {arms.get(ref, ref)} (points; mean over seeds "
            "[95 % interval]):",
            "",
            header,
            rule,
        ]
        for arm in present:
            if arm == ref:
                continue
            parts = [
                format_difference(
                    paired_difference(
                        test.get((dataset, arm, k), {}), test.get((dataset, ref, k), {})
                    )
                )
                for k in shots
            ]
            lines.append(f"| {arms[arm]} | " + " | ".join(parts) + " |")
    lines += ["", "Validation accuracy (%), what the default is selected on:", "", header, rule]
    for arm in present:
        parts = [
            _cell_text(val[(dataset, arm, k)], planned_seeds) if (dataset, arm, k) in val else "–"
            for k in shots
        ]
        lines.append(f"| {arms[arm]} | " + " | ".join(parts) + " |")
    return lines


def _beats(d: dict[str, Any], margin: float) -> bool:
    """At least ``margin`` points ahead on average, with the 95 % interval above 0."""
    return d["mean"] >= margin and d["n"] > 1 and d["low"] > 0


def goal_lines(rows: list[dict[str, Any]], datasets: list[str], default: str) -> list[str]:
    """The benchmark's goal, checked: at k = 1 and 3 the default beats events-only and
    pretrain-finetune by >= 3 points with the interval above 0; at k = 8 it beats events-only
    by >= 3 and is not below pretrain-finetune."""
    test = cells(rows)
    lines = [
        "| dataset | k | vs events only | vs pretrain-finetune | goal |",
        "|---|---|---|---|---|",
    ]
    for dataset in datasets:
        for k in (1, 3, 8):
            base = paired_difference(
                test.get((dataset, default, k), {}), test.get((dataset, "events-only", k), {})
            )
            pf = paired_difference(
                test.get((dataset, default, k), {}), test.get((dataset, "pretrain-finetune", k), {})
            )
            if base is None or pf is None:
                continue

            # k = 8: 3 points over events only, and not below pretrain-finetune
            met = _beats(base, 3) and (_beats(pf, 3) if k < 8 else pf["mean"] >= 0)
            lines.append(
                f"| {dataset} | {k} | {format_difference(base)} | {format_difference(pf)} | "
                f"{'met' if met else 'not met'} |"
            )
    return lines


def plot(rows: list[dict[str, Any]], datasets: list[str], arms: dict[str, str], path: Path) -> None:
    """Test accuracy against k for every arm (mean with its 95 % interval), one panel per
    dataset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    test = cells(rows)
    fig, axes = plt.subplots(1, len(datasets), figsize=(6.5 * len(datasets), 4.6), dpi=110)
    axes = [axes] if len(datasets) == 1 else list(axes)
    cmap = plt.get_cmap("tab20")
    for ax, dataset in zip(axes, datasets, strict=True):
        for i, (arm, label) in enumerate(arms.items()):
            ks = sorted(k for (d, a, k) in test if d == dataset and a == arm)
            if not ks:
                continue
            stats = [t_interval(list(test[(dataset, arm, k)].values())) for k in ks]
            means = [s[0] for s in stats]
            err = [
                [0 if math.isnan(s[1]) else s[0] - s[1] for s in stats],
                [0 if math.isnan(s[2]) else s[2] - s[0] for s in stats],
            ]
            bold = arm in ("events-only", "pretrain-finetune", "default")
            ax.errorbar(
                [k * (1 + 0.015 * (i - len(arms) / 2)) for k in ks],
                means,
                yerr=err,
                marker="o",
                ms=3,
                capsize=2,
                lw=2.2 if bold else 0.9,
                color="black" if arm == "default" else cmap(i % 20),
                label=label,
            )
        ax.set_xscale("log")
        ks = sorted({r["shots"] for r in rows})
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.set_xlabel("labelled event recordings per class (k)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(dataset)
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=6.5, loc="lower right", ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
