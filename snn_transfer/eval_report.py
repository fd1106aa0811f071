"""Reporting an evaluation: the weakest classes, top confusions, the confusion matrix as an
image, and predictions as aligned lines (what ``snn-transfer eval`` and ``predict`` print).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def top_confusions(result: dict[str, Any], limit: int = 5) -> list[tuple[str, str, int]]:
    """The ``limit`` largest off-diagonal cells: ``(true class, predicted class, count)``."""
    confusion = np.asarray(result["confusion"])
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    rows, cols = np.nonzero(off)
    # largest first; ties in class order
    order = np.lexsort((cols, rows, -off[rows, cols]))[:limit]
    classes = result["classes"]
    return [(classes[rows[i]], classes[cols[i]], int(off[rows[i], cols[i]])) for i in order]


def write_evaluation(result: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write ``eval-<split>.json`` and ``confusion-<split>.png`` into ``out_dir``."""
    import json

    from matplotlib.figure import Figure

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    split = result["split"]
    json_path = out / f"eval-{split}.json"
    json_path.write_text(json.dumps(result, indent=2))

    confusion = np.asarray(result["confusion"])
    k = len(confusion)
    size = min(4 + 0.3 * k, 16)
    fig = Figure(figsize=(size + 1, size))
    ax = fig.add_subplot()
    image = ax.imshow(confusion, cmap="Blues", interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="samples")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(
        f"{result['dataset']} {split}: accuracy {result['accuracy']:.2%} (n={result['n']})"
    )
    if k <= 30:
        ax.set_xticks(range(k), result["classes"], rotation=90, fontsize=8)
        ax.set_yticks(range(k), result["classes"], fontsize=8)
    if k <= 15:
        limit = confusion.max() / 2
        for (i, j), value in np.ndenumerate(confusion):
            if value:
                color = "white" if value > limit else "black"
                ax.text(j, i, str(value), ha="center", va="center", color=color, fontsize=8)
    fig.tight_layout()
    png_path = out / f"confusion-{split}.png"
    fig.savefig(png_path, dpi=120)
    return [json_path, png_path]


def format_evaluation(result: dict[str, Any]) -> str:
    """A human summary: accuracy, weakest classes, top confusions, firing rates, ops, energy."""
    lines = [
        f"{result['dataset']} {result['split']} split, {result['n']} samples "
        f"({result['run']}, epoch {result['epoch']})",
        f"accuracy {result['accuracy']:.2%}",
    ]
    scored = [(acc, name) for name, acc in result["per_class"].items() if acc is not None]
    if scored:
        weakest = ", ".join(f"{name} {acc:.0%}" for acc, name in sorted(scored)[:5])
        lines.append(f"weakest classes: {weakest}")
    confusions = top_confusions(result)
    if confusions:
        lines.append("top confusions (true -> predicted):")
        lines += [f"  {t} -> {p}: {c}" for t, p, c in confusions]
    if result["firing"]:
        width = max(map(len, result["firing"]))
        lines.append("firing rates (spikes per neuron and step):")
        lines += [f"  {name:<{width}}  {rate:.4f}" for name, rate in result["firing"].items()]
    ops = result["ops"]
    lines.append(f"operations per sample over T = {ops['time_steps']} steps:")
    width = max(map(len, ops["layers"]), default=0)
    for name, layer in ops["layers"].items():
        count = layer["macs"] if layer["kind"] == "mac" else layer["sops"]
        lines.append(
            f"  {name:<{width}}  {count:>14,.0f} {'MACs' if layer['kind'] == 'mac' else 'SOPs'}"
            f"  input rate {layer['input_rate']:.4f}  {layer['energy_pj'] / 1e6:.4f} uJ"
        )
    lines.append(
        f"total: {ops['sops']:,.0f} SOPs and {ops['macs']:,.0f} MACs, energy "
        f"{ops['energy_pj'] / 1e6:.4f} uJ per sample ({ops['e_ac_pj']} pJ/AC, "
        f"{ops['e_mac_pj']} pJ/MAC; an ANN of the same layers: "
        f"{ops['ann_energy_pj'] / 1e6:.4f} uJ)"
    )
    return "\n".join(lines)


def format_predictions(paths: Sequence[str | Path], results: Iterable[dict[str, Any]]) -> str:
    """One aligned line per input: the file, the predicted class and its confidence, or
    ``error: ...`` for a file that could not be read (a result with an ``error``)."""
    results = list(results)
    if len(results) != len(paths):
        raise ValueError(f"{len(paths)} paths but {len(results)} predictions")
    names = [str(p) for p in paths]
    width = max(map(len, names), default=0)
    cls = max((len(r["class"]) for r in results if "error" not in r), default=0)
    return "\n".join(
        f"{name:<{width}}  error: {r['error']}"
        if "error" in r
        else f"{name:<{width}}  {r['class']:<{cls}}  {r['confidence']:.1%}"
        for name, r in zip(names, results, strict=True)
    )
