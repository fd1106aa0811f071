"""The ``snn-transfer`` command line: training, evaluation, comparison and the offline demo."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from snn_transfer._version import __version__
from snn_transfer.errors import SnnTransferError


def _check_out_dir(out: Path, *, resume: bool) -> None:
    """Fail before any work if the run directory cannot be written or would be clobbered."""
    if out.exists() and any((out / "checkpoints").glob("*.pt")) and not resume:
        raise SnnTransferError(
            f"{out} already holds a run; continue it with --resume {out} or choose another --out"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        # one probe per process: under torchrun every rank checks the same folder at once
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"0" * 1024)
        probe.unlink()
    except OSError as error:
        raise SnnTransferError(f"cannot write to the run directory {out}: {error}") from None


def _train(args: argparse.Namespace) -> int:
    from snn_transfer import distributed

    code = _train_run(args, distributed.is_main())
    # only after success: a failed rank must not wait for the others (torchrun stops them)
    distributed.cleanup()
    return code


def _train_run(args: argparse.Namespace, main: bool) -> int:
    """Train (or resume) one run; under torchrun every process runs this, and only rank 0
    (``main``) prints."""
    from snn_transfer.trainer import Trainer

    if args.resume:
        out = Path(args.resume)
        _check_out_dir(out, resume=True)
        trainer = Trainer.resume(out, progress=not args.no_progress, quiet=not main)
    else:
        from snn_transfer.recipes import resolve

        if not args.recipe:
            raise SnnTransferError("train needs --recipe NAME|FILE.yaml (or --resume RUN_DIR)")
        recipe = resolve(args.recipe)
        config = recipe.config(args.set)
        out = Path(args.out or f"runs/{recipe.name}-seed{config.seed}")
        _check_out_dir(out, resume=False)
        if main:
            print(f"training {recipe.description} -> {out}", flush=True)
        trainer = Trainer(config, out, progress=not args.no_progress, quiet=not main)
    result = trainer.fit()
    if main:
        print(
            f"selected epoch {result['best_epoch']} on {result['selected_on']}: "
            f"val {result['val_acc']:.4f}, test {result['test_acc']:.4f} ({out})"
        )
    return 0


def _recipes(args: argparse.Namespace) -> int:
    from snn_transfer.recipes import MODIFIERS, base_names, resolve

    print("base recipes:")
    for name in base_names():
        print(f"  {name:<14} {resolve(name).description}")
    print("modifiers (append with '-', e.g. ncaltech101-parity-events-10-baseline):")
    for name, text in MODIFIERS.items():
        print(f"  {name:<14} {text}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from snn_transfer.demo import run_demo

    run_demo(Path(args.out), quick=args.quick, progress=not args.no_progress)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from snn_transfer.eval_report import format_evaluation, write_evaluation
    from snn_transfer.evaluate import evaluate_run

    result = evaluate_run(args.run_dir, split=args.split)
    print(format_evaluation(result))
    run = Path(args.run_dir)
    for path in write_evaluation(result, run if run.is_dir() else run.parent):
        print(f"wrote {path}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from snn_transfer.compare import compare_runs, format_table, plot_curves

    table = compare_runs(args.runs)
    print(format_table(table))
    if args.plot:
        plot_curves(args.runs, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from snn_transfer.eval_report import format_predictions
    from snn_transfer.rundir import load_run

    run = load_run(args.run_dir)
    print(format_predictions(args.files, run.predict(list(args.files))))
    return 0


def _export(args: argparse.Namespace) -> int:
    from snn_transfer.export import export_nir

    path = export_nir(args.run_dir, args.out)
    print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snn-transfer",
        description="Train spiking networks on DVS events with knowledge from static images.",
    )
    parser.add_argument("--version", action="version", version=f"snn-transfer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def command(name, run, help, example):
        p = sub.add_parser(name, help=help, description=help, epilog=f"example: {example}")
        p.set_defaults(handler=run)
        return p

    train = command(
        "train",
        _train,
        "train a recipe (the method, a baseline or an ablation) into a run directory",
        "snn-transfer train --recipe demo --set epochs=5 --out runs/try",
    )
    train.add_argument("--recipe", help="recipe name (see 'recipes') or a YAML file")
    train.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key"
    )
    train.add_argument("--out", help="run directory (default runs/<recipe>-seed<seed>)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    train.add_argument("--no-progress", action="store_true", help="no progress bars")

    command("recipes", _recipes, "list the recipes and their modifiers", "snn-transfer recipes")

    demo = command(
        "demo",
        _demo,
        "train the baseline and the transfer method offline on the digits dataset",
        "snn-transfer demo --out runs/demo",
    )
    demo.add_argument("--quick", action="store_true", help="a sub-minute smoke run")
    demo.add_argument("--out", default="runs/demo", help="where the runs and report go")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")

    evaluate = command(
        "eval",
        _evaluate,
        "accuracy, per-class accuracy, confusion matrix, firing rates and energy of a run",
        "snn-transfer eval runs/demo/transfer --split test",
    )
    evaluate.add_argument("run_dir", metavar="RUN_DIR|CHECKPOINT")
    evaluate.add_argument("--split", default="test", choices=("train", "val", "test"))

    compare = command(
        "compare",
        _compare,
        "a table of runs grouped over seeds (mean and std) and their accuracy curves",
        "snn-transfer compare runs/* --plot runs/curves.png",
    )
    compare.add_argument("runs", nargs="+", metavar="RUN_DIR")
    compare.add_argument("--plot", metavar="PNG", help="write the accuracy curves here")

    predict = command(
        "predict",
        _predict,
        "class and confidence for event files in any supported format",
        "snn-transfer predict runs/demo/transfer recording.bin",
    )
    predict.add_argument("run_dir", metavar="RUN_DIR")
    predict.add_argument("files", nargs="+", metavar="FILE")

    export = command(
        "export",
        _export,
        "export the event branch as a NIR graph",
        "snn-transfer export runs/demo/transfer --out model.nir",
    )
    export.add_argument("run_dir", metavar="RUN_DIR")
    export.add_argument("--out", required=True, metavar="FILE")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except SnnTransferError as error:
        print(f"snn-transfer {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"snn-transfer {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
