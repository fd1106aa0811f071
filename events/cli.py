"""The ``snn-events`` command line: inspect and preprocess event data.

Imports no torch: it must start fast and work without the training stack.
"""

from __future__ import annotations

import argparse
import sys

from snn_transfer._version import __version__
from snn_transfer.errors import SnnTransferError


def _info(args: argparse.Namespace) -> int:
    from snn_transfer.events.io import describe

    for path in args.files:
        info = describe(path, format=args.format)
        print(f"{path}")
        for key, value in info.items():
            print(f"  {key:<12} {value}")
    return 0


def _emulate(args: argparse.Namespace) -> int:
    import inspect

    from snn_transfer.errors import ConfigError
    from snn_transfer.events.emulate import SaccadeParams
    from snn_transfer.events.emulated import write_emulated
    from snn_transfer.events.static import STATIC_SOURCES

    loader = STATIC_SOURCES.get(args.images)
    if loader is None:
        raise ConfigError(
            f"unknown image source {args.images!r}; choose one of {', '.join(STATIC_SOURCES)}"
        )
    root = inspect.signature(loader).parameters.get("root")
    takes_root = root is not None
    if takes_root and args.root is None and root.default is inspect.Parameter.empty:
        raise ConfigError(f"--images {args.images} needs --root DIR (the local dataset folder)")
    source = loader(args.root) if takes_root and args.root is not None else loader()
    indices = range(len(source)) if args.limit is None else range(min(args.limit, len(source)))
    path = write_emulated(
        args.out,
        source,
        indices,
        sensor_size=tuple(args.sensor),
        params=SaccadeParams(fit=args.fit),
        seed=args.seed,
        workers=args.workers,
        progress=True,
        description=f"saccade emulator over {args.images}",
    )
    print(f"wrote {len(indices)} emulated recordings to {path}")
    return 0


def _datasets(args: argparse.Namespace) -> int:
    from snn_transfer.events.datasets import dataset_entry, dataset_names

    for name in dataset_names():
        entry = dataset_entry(name)
        static = "static + events" if entry.has_static else "events only"
        print(f"{name:<14} {entry.summary} [{static}]")
        print(f"{'':<14} layout: {entry.layout}")
        options = ", ".join(f"{k}={v!r}" for k, v in entry.options().items())
        print(f"{'':<14} options: {options}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snn-events",
        description="Inspect and preprocess DVS event data.",
    )
    parser.add_argument("--version", action="version", version=f"snn-events {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    info = sub.add_parser(
        "info",
        help="format, sensor size, event count, duration and ON share of event files",
        description="Describe event files in any supported format.",
        epilog="example: snn-events info recording.bin --format atis",
    )
    info.add_argument("files", nargs="+", metavar="FILE")
    info.add_argument(
        "--format", default=None, help="force a format instead of detecting it (see FORMATS)"
    )
    info.set_defaults(run=_info)

    emulate = sub.add_parser(
        "emulate",
        help="turn static images into event recordings with the saccade emulator",
        description="Emulate a static image source into an event-dataset HDF5 file.",
        epilog="example: snn-events emulate --images digits --out digits-events.h5 --workers 2",
    )
    emulate.add_argument("--images", required=True, metavar="SOURCE", help="image source name")
    emulate.add_argument("--root", default=None, help="local folder of the image source")
    emulate.add_argument("--out", required=True, metavar="FILE.h5")
    emulate.add_argument("--sensor", nargs=2, type=int, default=[34, 34], metavar=("W", "H"))
    emulate.add_argument("--seed", type=int, default=0)
    emulate.add_argument("--workers", type=int, default=1)
    emulate.add_argument("--limit", type=int, default=None, help="only the first N images")
    emulate.add_argument(
        "--fit", action="store_true", help="resize images so the saccade path fits the sensor"
    )
    emulate.set_defaults(run=_emulate)

    datasets = sub.add_parser(
        "datasets",
        help="the dataset registry, with the layout each entry expects",
        description="List the registered datasets, their layouts and options.",
        epilog="example: snn-events datasets",
    )
    datasets.set_defaults(run=_datasets)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except SnnTransferError as error:
        print(f"snn-events {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
