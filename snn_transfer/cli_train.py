"""What ``snn-transfer train`` does: resolve the config, check the run directory, train.

* ``--print-config`` prints the resolved config (YAML) and exits without training or creating
  anything;
* ``--resume RUN --set KEY=VALUE`` applies the keys a resumed run may change (``epochs``...)
  and refuses the others by name (``run_config.RESUMABLE_KEYS``);
* the run directory is created only when training starts, and removed again if the run fails
  before writing anything into it, so a config that fails leaves no empty folder behind;
* the first line names the recipe, the dataset and the model actually trained.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from snn_transfer.errors import SnnTransferError


def check_out_dir(out: Path, *, resume: bool) -> None:
    """Fail before any work if the run directory cannot be written or would be clobbered;
    nothing is created (the trainer creates the folder when training starts)."""
    if out.exists() and any((out / "checkpoints").glob("*.pt")) and not resume:
        raise SnnTransferError(
            f"{out} already holds a run; continue it with --resume {out} or choose another --out"
        )
    probe_at = out
    while not probe_at.exists() and probe_at != probe_at.parent:
        probe_at = probe_at.parent
    if not probe_at.is_dir():
        raise SnnTransferError(
            f"cannot write to the run directory {out}: {probe_at} is a file, not a folder"
        )
    # one probe per process: under torchrun every rank checks the same folder at once
    probe = probe_at / f".write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"0" * 1024)
        probe.unlink()
    except OSError as error:
        raise SnnTransferError(f"cannot write to the run directory {out}: {error}") from None


def header(recipe: Any, config: Any, out: Path) -> str:
    """The first line of a run: recipe, mode, dataset, model and length, as trained (the
    recipe's description only while its dataset is the one trained)."""
    from snn_transfer.run_config import DataConfig

    dataset = config.data.dataset
    described = recipe.data.get("data", {}).get("dataset", DataConfig.dataset) == dataset
    what = f" ({recipe.description})" if described else ""
    return (
        f"training {recipe.name}{what}: {config.mode} on dataset {dataset!r} with model "
        f"{config.model.name!r}, {config.total_epochs} epoch"
        f"{'s' if config.total_epochs > 1 else ''} -> {out}"
    )


def _print_config(config: Any) -> None:
    import yaml

    from snn_transfer.config_loader import to_dict

    print(yaml.safe_dump(to_dict(config), sort_keys=False), end="")


def _remove_if_empty(out: Path, existed: bool) -> None:
    if not existed and out.is_dir() and not any(out.iterdir()):
        out.rmdir()


def train(args: argparse.Namespace, main: bool) -> int:
    """Train (or resume) one run; under torchrun every process runs this, and only rank 0
    (``main``) prints."""
    from snn_transfer.config_loader import read_yaml
    from snn_transfer.run_config import resumed_config

    progress = not args.no_progress
    if args.resume:
        out = Path(args.resume)
        if not (out / "config.yaml").is_file():
            raise SnnTransferError(f"--resume {out}: no run there (it holds no config.yaml)")
        config = resumed_config(read_yaml(out / "config.yaml"), args.set)
        if args.print_config:
            _print_config(config)
            return 0
        check_out_dir(out, resume=True)
        from snn_transfer.trainer import Trainer

        trainer = Trainer.resume(out, overrides=args.set, progress=progress, quiet=not main)
        if main and args.set:
            print(f"resuming {out} with {', '.join(args.set)}", flush=True)
    else:
        from snn_transfer.recipes import resolve

        if not args.recipe:
            raise SnnTransferError("train needs --recipe NAME|FILE.yaml (or --resume RUN_DIR)")
        recipe = resolve(args.recipe)
        config = recipe.config(args.set)
        if args.print_config:
            _print_config(config)
            return 0
        out = Path(args.out or f"runs/{recipe.name}-seed{config.seed}")
        check_out_dir(out, resume=False)
        existed = out.exists()
        if main:
            print(header(recipe, config, out), flush=True)
            if existed and any(out.iterdir()):
                print(
                    f"note: {out} exists (without a checkpoint); the run writes into it", flush=True
                )
        from snn_transfer.trainer import Trainer

        try:
            trainer = Trainer(config, out, progress=progress, quiet=not main)
            result = trainer.fit()
        finally:
            _remove_if_empty(out, existed)
        return _report(result, out, main)
    return _report(trainer.fit(), out, main)


def _report(result: dict[str, Any], out: Path, main: bool) -> int:
    if main:
        print(
            f"selected epoch {result['best_epoch']} on {result['selected_on']}: "
            f"val {result['val_acc']:.4f}, test {result['test_acc']:.4f} ({out})"
        )
    return 0
