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
