"""The ``snn-transfer`` command line: training, evaluation, comparison and the offline demo."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from snn_transfer._version import __version__
from snn_transfer.errors import SnnTransferError


def _import_modules(names: list[str]) -> None:
    """Import the modules named by ``--import`` (they register models with
    ``@register_model``); the current folder is searched too, as ``python -m`` does."""
    import importlib

    if names and os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise SnnTransferError(
                f"--import {name}: {error}; put the folder that holds it on PYTHONPATH (the "
                "current folder is searched too) or install its package"
            ) from None


def _train(args: argparse.Namespace) -> int:
    from snn_transfer import distributed
    from snn_transfer.cli_train import train

    code = train(args, distributed.is_main())
    # only after success: a failed rank must not wait for the others (torchrun stops them)
    distributed.cleanup()
    return code


def _models(args: argparse.Namespace) -> int:
    from snn_transfer.models import NEURON_KEYS, NeuronConfig, list_models, model_module
    from snn_transfer.models import model_options as options_of

    print("models (--set model.name=NAME, their options with --set model.options.KEY=VALUE):")
    for name in list_models():
        options = " ".join(f"{k}={v!r}" for k, v in options_of(name).items()) or "-"
        module = model_module(name) or ""
        origin = "" if module.startswith("snn_transfer.") else f"  [from {module}]"
        print(f"  {name:<14} {options}{origin}")
    defaults = NeuronConfig()
    neuron = " ".join(f"{k}={getattr(defaults, k)!r}" for k in NEURON_KEYS)
    print(f"neuron options of every model that builds LIF layers: {neuron}")
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
    from snn_transfer.prediction import predict_files
    from snn_transfer.rundir import load_run

    run = load_run(args.run_dir)
    results = predict_files(run, args.files, sensor=args.sensor)
    print(format_predictions(args.files, results), flush=True)
    failed = sum("error" in r for r in results)
    if failed:
        print(f"snn-transfer predict: {failed} of {len(results)} files failed", file=sys.stderr)
    return 1 if failed else 0


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

    def command(name, run, help, example, *, imports=False):
        p = sub.add_parser(name, help=help, description=help, epilog=f"example: {example}")
        p.set_defaults(handler=run, imports=[])
        if imports:
            p.add_argument(
                "--import",
                dest="imports",
                action="append",
                default=[],
                metavar="MODULE",
                help="import a module that registers models (@register_model) first",
            )
        return p

    train = command(
        "train",
        _train,
        "train a recipe (the method, a baseline or an ablation) into a run directory",
        "snn-transfer train --recipe demo --set epochs=5 --out runs/try",
        imports=True,
    )
    train.add_argument("--recipe", help="recipe name (see 'recipes') or a YAML file")
    train.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key"
    )
    train.add_argument("--out", help="run directory (default runs/<recipe>-seed<seed>)")
    train.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue a run (--set may change epochs, device, threads and the like)",
    )
    train.add_argument("--no-progress", action="store_true", help="no progress bars at all")
    train.add_argument(
        "--print-config",
        action="store_true",
        help="print the resolved config (YAML) and exit without training",
    )

    command("recipes", _recipes, "list the recipes and their modifiers", "snn-transfer recipes")
    command(
        "models",
        _models,
        "list the registered models and their options",
        "snn-transfer models --import my_package.models",
        imports=True,
    )

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
        imports=True,
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
        imports=True,
    )
    predict.add_argument("run_dir", metavar="RUN_DIR")
    predict.add_argument("files", nargs="+", metavar="FILE")
    predict.add_argument(
        "--sensor",
        nargs=2,
        type=int,
        metavar=("W", "H"),
        help="the recordings' sensor size, when it differs from the one the run trained on",
    )

    export = command(
        "export",
        _export,
        "export the event branch as a NIR graph",
        "snn-transfer export runs/demo/transfer --out model.nir",
        imports=True,
    )
    export.add_argument("run_dir", metavar="RUN_DIR")
    export.add_argument("--out", required=True, metavar="FILE")
    return parser


def _show_warning(command: str):
    """Warnings as one line each: ``snn-transfer train: note: ...`` for a ConfigNote."""
    from snn_transfer.errors import ConfigNote

    def show(message, category, filename, lineno, file=None, line=None):
        kind = "note" if issubclass(category, ConfigNote) else "warning"
        print(f"snn-transfer {command}: {kind}: {message}", file=sys.stderr, flush=True)

    return show


def main(argv: list[str] | None = None) -> int:
    import warnings

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning(args.command)
            _import_modules(args.imports)
            return args.handler(args)
    except SnnTransferError as error:
        print(f"snn-transfer {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"snn-transfer {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
