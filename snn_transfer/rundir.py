"""The run directory: resolved config, metadata, metrics, checkpoints, and loading a run back.

Layout::

    RUN/config.yaml        the resolved TransferConfig
    RUN/meta.json          package, torch, SpikingJelly and Tonic versions, git commit,
                           command line, device, dataset summary
    RUN/metrics.csv        one row per epoch (losses by term, accuracies, lr, sliding P,
                           sigma(eta_t), firing rates)
    RUN/tensorboard/       the same metrics for TensorBoard
    RUN/checkpoints/       the newest few checkpoints (rotated)
    RUN/best.pt            the checkpoint of the selected epoch
    RUN/result.json        selected epoch, its validation and test accuracy, the selection rule
"""

from __future__ import annotations

import csv
import io
import json
import platform
import subprocess
import sys
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snn_transfer.checkpoint import (
    CheckpointError,
    atomic_write_bytes,
    check_free_space,
    load_checkpoint,
    remove_stale_temporaries,
)
from snn_transfer.config_loader import to_dict
from snn_transfer.errors import ConfigError, SnnTransferError


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def run_metadata(device: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    commit = None
    try:
        here = Path(__file__).resolve().parent
        commit = (
            subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "snn_transfer": _version("snn-transfer"),
        "torch": torch.__version__,
        "spikingjelly": _version("spikingjelly"),
        "tonic": _version("tonic"),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "git_commit": commit,
        "command": sys.argv,
        "device": device,
        **(extra or {}),
    }


def start_run_dir(
    out: Path, config: Any, required: int, device: str, extra: dict[str, Any]
) -> None:
    """Create the run directory ``out`` and write ``config.yaml`` and ``meta.json``, after
    checking before any work that ``required`` bytes (the checkpoints) fit: a full disk found
    at the first checkpoint would cost an epoch. Temporary files of a writer killed earlier
    are removed."""
    out.mkdir(parents=True, exist_ok=True)
    check_free_space(out, required, what="this run's checkpoints")
    remove_stale_temporaries(out)
    write_config(out / "config.yaml", config)
    write_json(out / "meta.json", run_metadata(device, extra))


def write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_bytes(path, json.dumps(data, indent=2, default=str).encode())


def write_config(path: Path, config: Any) -> None:
    import yaml

    atomic_write_bytes(path, yaml.safe_dump(to_dict(config), sort_keys=False).encode())


def write_metrics_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """All epochs so far, rewritten atomically (so a resumed run never duplicates rows)."""
    keys: list[str] = []
    for row in rows:
        keys.extend(k for k in row if k not in keys)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, buffer.getvalue().encode())


def read_metrics_csv(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


class LoadedRun:
    """A finished (or interrupted) run, ready to predict.

    ``model`` is the ``TransferModel`` with the selected checkpoint's weights, in eval mode;
    ``classes`` are the class names; ``framing`` turns an event stream into the model's input
    (None when the run stored none this version can rebuild).
    """

    def __init__(self, path: Path, state: dict[str, Any], model: torch.nn.Module) -> None:
        from snn_transfer.checkpoint_state import spec_from_plain

        self.path = path
        self.state = state
        self.model = model
        self.classes: list[str] = list(state["classes"])
        self.result = state.get("result", {})
        try:
            self.framing = spec_from_plain(state.get("framing"))
        except CheckpointError as error:
            warnings.warn(f"{path}: {error}; event files cannot be framed", stacklevel=2)
            self.framing = None

    def _frames(self, item: Any) -> np.ndarray:
        if isinstance(item, torch.Tensor):
            item = item.detach().cpu().numpy()
        if isinstance(item, str | Path):
            from snn_transfer.events.io import read_events

            path, item = item, read_events(item).events
        else:
            path = None
        array = np.asarray(item)
        if array.dtype.names:
            if self.framing is None:
                raise SnnTransferError("this run stored no framing; pass frames [T, P, H, W]")
            array = self.framing(array, path=path)
        return np.asarray(array, dtype=np.float32)

    @torch.no_grad()
    def predict(self, items: Any) -> list[dict[str, Any]]:
        """Class and confidence for each item: an event file path, an event array, or frames
        ``[T, P, H, W]`` (numpy or torch). A single item may be passed without a list."""
        if isinstance(items, torch.Tensor):
            items = items.detach().cpu().numpy()
        if isinstance(items, str | Path) or (
            isinstance(items, np.ndarray) and (items.dtype.names or items.ndim == 4)
        ):
            items = [items]
        frames = torch.from_numpy(np.stack([self._frames(i) for i in items]))
        device = next(self.model.parameters()).device
        logits = self.model.classify(frames.transpose(0, 1).to(device)).mean(0)
        probs = torch.softmax(logits.float(), dim=-1).cpu()
        best = probs.argmax(dim=-1)
        return [
            {"label": int(b), "class": self.classes[int(b)], "confidence": float(probs[i, b])}
            for i, b in enumerate(best)
        ]


def load_run(
    path: str | Path, *, checkpoint: str = "best", model: torch.nn.Module | None = None
) -> LoadedRun:
    """Load a run directory (or a checkpoint file) for prediction or evaluation.

    The model is rebuilt by its registered name (the module that registers a model of your
    own must be imported first: ``--import MODULE`` on the command line), or is ``model``,
    an instance of the network the run trained (following ``SpikingModel``), which receives
    the checkpoint's weights. The checkpoint is read with ``weights_only=True``.
    """
    from snn_transfer.run_config import TransferConfig
    from snn_transfer.training_module import build_model

    path = Path(path)
    if path.is_dir():
        file = path / "best.pt" if checkpoint == "best" else path / checkpoint
        if not file.exists():
            candidates = sorted((path / "checkpoints").glob("*.pt"))
            if not candidates:
                raise ConfigError(f"{path} holds no checkpoint (best.pt or checkpoints/*.pt)")
            file = candidates[-1]
    else:
        file = path
    state = load_checkpoint(file)
    config = TransferConfig.from_dict(state["config"])
    try:
        transfer = build_model(config, len(state["classes"]), backbone=model)
    except ConfigError as error:
        raise ConfigError(f"{file}: {error}{_source_hint(state)}") from None
    try:
        transfer.load_state_dict(state["model"])
    except RuntimeError as error:
        raise ConfigError(
            f"the weights in {file} do not fit the model"
            f"{' passed' if model is not None else ''}: {str(error).splitlines()[0]} "
            f"(the run trained {state.get('model_source', {}).get('class', 'another model')})"
        ) from None
    transfer.eval()
    return LoadedRun(file, state, transfer)


def _source_hint(state: dict[str, Any]) -> str:
    source = state.get("model_source") or {}
    module = source.get("module")
    if not module or module.startswith("snn_transfer."):
        return ""
    return (
        f"; the run's model {source.get('name')!r} ({source.get('class')}) comes from module "
        f"{module!r}: import it first (snn-transfer ... --import {module}, or import {module} "
        "in Python), or pass model=<the same network> to load_run"
    )
