"""Comparing runs: one row per run, groups over seeds with mean and standard deviation.

A run directory is read through its files only (``config.yaml``, ``result.json``,
``metrics.csv``), so runs of other versions and interrupted runs compare too. Runs whose
configs are equal except for the seed (and the keys in :data:`IGNORED_KEYS`, which say where
or how fast a run ran, not what it computed) form a group. Standard deviations are over seeds,
with ``ddof = 1`` (None for a single run). Accuracies are fractions in ``[0, 1]``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from snn_transfer.config_loader import read_yaml
from snn_transfer.errors import ConfigError
from snn_transfer.rundir import read_metrics_csv

IGNORED_KEYS: tuple[str, ...] = (
    "seed",
    "device",
    "threads",
    "compile",
    "keep_checkpoints",
    "checkpoint_every",
    "data.workers",
    "data.eval_batch_size",
    "data.options.cache_dir",
    "data.options.root",
    "data.options.progress",
    "data.options.workers",
)
RUN_COLUMNS = (
    "run",
    "mode",
    "dataset",
    "event_fraction",
    "static_fraction",
    "seed",
    "selection",
    "best_epoch",
    "val_acc",
    "test_acc",
)
GROUP_COLUMNS = (
    "group",
    "mode",
    "dataset",
    "event_fraction",
    "static_fraction",
    "selection",
    "n",
    "val_acc",
    "test_acc",
)


def _flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"data": {"options": {"a": 1}}}`` -> ``{"data.options.a": 1}`` (empty sections vanish)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def _complete(config: dict[str, Any]) -> dict[str, Any]:
    """The config with every default filled in, so a key that a run of an older version did
    not write compares equal to its default; as written when this version cannot parse it."""
    from snn_transfer.config_loader import to_dict
    from snn_transfer.run_config import TransferConfig

    try:
        return to_dict(TransferConfig.from_dict(config))
    except ConfigError:
        return config


def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Run directories among ``paths``: each path is a run (it has ``config.yaml``) or a
    folder whose direct subfolders are runs."""
    runs: list[Path] = []
    for path in map(Path, paths):
        if (path / "config.yaml").is_file():
            runs.append(path)
            continue
        inner = sorted(p for p in path.glob("*/config.yaml")) if path.is_dir() else []
        if not inner:
            raise ConfigError(
                f"{path} is not a run directory (no config.yaml) and holds none; pass the "
                "folders that 'snn-transfer train --out' wrote"
            )
        runs.extend(p.parent for p in inner)
    return runs


def _float(value: Any) -> float | None:
    if value in (None, ""):
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _selected(rows: list[dict[str, str]], selection: str) -> dict[str, Any]:
    """The epoch an interrupted run (no result.json) would have selected: the first best."""
    key = "val_acc" if selection == "val" else "test_acc"
    best: dict[str, Any] = {"best_epoch": None, "val_acc": None, "test_acc": None}
    score = -1.0
    for row in rows:
        value = _float(row.get(key))
        if value is not None and value > score:
            score = value
            best = {
                "best_epoch": int(row["epoch"]),
                "val_acc": _float(row.get("val_acc")),
                "test_acc": _float(row.get("test_acc")),
            }
    return best


def read_run(path: str | Path) -> dict[str, Any]:
    """One table row of a run directory (see :data:`RUN_COLUMNS`), plus ``path``,
    ``epochs_done``, ``finished`` and the flat ``config``."""
    path = Path(path)
    config = read_yaml(path / "config.yaml")
    metrics_file = path / "metrics.csv"
    if not metrics_file.is_file():
        raise ConfigError(
            f"{metrics_file} is missing: the run has not finished an epoch; train it "
            "(snn-transfer train --resume) or leave it out"
        )
    rows = read_metrics_csv(metrics_file)
    selection = config.get("selection", "val")
    result_file = path / "result.json"
    if result_file.is_file():
        result = json.loads(result_file.read_text())
        best = {k: result.get(k) for k in ("best_epoch", "val_acc", "test_acc")}
    else:
        best = _selected(rows, selection)
    data = config.get("data", {})
    options = data.get("options", {}) or {}
    return {
        "run": path.name,
        "path": str(path),
        "mode": config.get("mode", "transfer"),
        "dataset": data.get("dataset", "digits"),
        "event_fraction": float(options.get("event_fraction", 1.0)),
        "static_fraction": float(options.get("static_fraction", 1.0)),
        "seed": config.get("seed", 0),
        "selection": selection,
        **best,
        "epochs_done": len(rows),
        "finished": result_file.is_file()
        and len(rows) >= config.get("epochs", 0) + config.get("pretrain_epochs", 0),
        "config": _flatten(_complete(config)),
    }


def _stats(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    known = np.array([v for v in values if v is not None], dtype=np.float64)
    if known.size == 0:
        return None, None
    std = float(np.std(known, ddof=1)) if known.size > 1 else None
    return float(np.mean(known)), std


def compare_runs(paths: Iterable[str | Path]) -> dict[str, Any]:
    """Rows of the runs in ``paths`` (see :func:`find_runs`) and their groups over seeds.

    Returns ``{"runs": [...], "groups": [...]}``. A group has ``group`` (the config keys that
    tell it apart from the other groups, ``key=value``), ``mode``, ``dataset``, the
    fractions, ``selection``, ``n``, ``seeds``, ``runs`` (names), ``val_acc`` and
    ``test_acc`` (means), ``val_acc_std``, ``test_acc_std`` and ``best_epoch`` (mean).
    """
    runs = [read_run(p) for p in find_runs(paths)]
    if not runs:
        raise ConfigError("no run directories given to compare")
    keys: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        relevant = {k: v for k, v in run["config"].items() if k not in IGNORED_KEYS}
        keys.setdefault(json.dumps(relevant, sort_keys=True, default=str), []).append(run)
    configs = [json.loads(k) for k in keys]
    differing = sorted(
        k for k in set().union(*configs) if len({json.dumps(c.get(k)) for c in configs}) > 1
    )
    groups = []
    for config, members in zip(configs, keys.values(), strict=True):
        label = ", ".join(f"{k}={config[k]}" for k in differing if k in config) or "all"
        val_mean, val_std = _stats([m["val_acc"] for m in members])
        test_mean, test_std = _stats([m["test_acc"] for m in members])
        epochs = [m["best_epoch"] for m in members if m["best_epoch"] is not None]
        first = members[0]
        groups.append(
            {
                "group": label,
                **{k: first[k] for k in ("mode", "dataset", "event_fraction", "static_fraction")},
                "selection": first["selection"],
                "n": len(members),
                "seeds": [m["seed"] for m in members],
                "runs": [m["run"] for m in members],
                "val_acc": val_mean,
                "val_acc_std": val_std,
                "test_acc": test_mean,
                "test_acc_std": test_std,
                "best_epoch": float(np.mean(epochs)) if epochs else None,
            }
        )
    return {"runs": runs, "groups": groups}


def _cell(row: dict[str, Any], column: str) -> str:
    value = row.get(column)
    if column in ("val_acc", "test_acc"):
        if value is None:
            return "-"
        std = row.get(f"{column}_std")
        spread = f" ± {100 * std:.2f}" if std is not None else ""
        return f"{100 * value:.2f}{spread}"
    if column.endswith("_fraction"):
        return f"{value:g}"
    return "-" if value is None else str(value)


def _render(header: Sequence[str], cells: list[list[str]], markdown: bool) -> list[str]:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        return lines + ["| " + " | ".join(row) + " |" for row in cells]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    numeric = {"seed", "best_epoch", "n", "val_acc", "test_acc"}
    numeric |= {"event_fraction", "static_fraction"}

    def line(row: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if h in numeric else v.ljust(w)
            for v, w, h in zip(row, widths, header, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return [line(header), line(["-" * w for w in widths]), *map(line, cells)]


def format_table(table: dict[str, Any], *, markdown: bool = False) -> str:
    """The runs and the groups over seeds as aligned text (or GitHub markdown); accuracies
    in percent, groups as ``mean ± std`` over ``n`` seeds."""
    runs = [[_cell(r, c) for c in RUN_COLUMNS] for r in table["runs"]]
    groups = [[_cell(g, c) for c in GROUP_COLUMNS] for g in table["groups"]]
    lines = ["runs (accuracy in %, test at the selected epoch):"]
    lines += _render(RUN_COLUMNS, runs, markdown)
    lines += ["", "groups over seeds (mean ± std, n runs):"]
    lines += _render(GROUP_COLUMNS, groups, markdown)
    return "\n".join(lines)


def plot_curves(paths: Iterable[str | Path], out_png: str | Path) -> Path:
    """Validation and test accuracy per epoch of every run, in two panels of one PNG; the
    selected epoch of each run is marked."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    runs = [read_run(p) for p in find_runs(paths)]
    fig = Figure(figsize=(11, 4.5))
    axes = fig.subplots(1, 2, sharey=True)
    for i, run in enumerate(runs):
        rows = read_metrics_csv(Path(run["path"]) / "metrics.csv")
        epochs = [int(r["epoch"]) for r in rows]
        color = f"C{i % 10}"
        for ax, key in zip(axes, ("val_acc", "test_acc"), strict=True):
            values = [_float(r.get(key)) for r in rows]
            acc = [np.nan if v is None else 100 * v for v in values]
            ax.plot(
                epochs, acc, color=color, label=run["run"], marker="." if len(rows) < 30 else ""
            )
            if run["best_epoch"] in epochs:
                j = epochs.index(run["best_epoch"])
                ax.plot(epochs[j], acc[j], "o", color=color, markerfacecolor="none", ms=9)
    for ax, title in zip(axes, ("validation", "test"), strict=True):
        ax.set_title(f"{title} accuracy (circle: selected epoch)")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy (%)")
    axes[1].legend(fontsize=8, loc="best")
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    return out
