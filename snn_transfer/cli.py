"""The ``snn-transfer`` command line: training, evaluation and the offline demo."""

from __future__ import annotations

import argparse
import sys

from snn_transfer._version import __version__
from snn_transfer.errors import SnnTransferError

NOT_BUILT = {
    "demo": (
        "the offline demo is not built yet: it needs the spiking models, the transfer "
        "trainer and the offline 'digits' dataset. What exists today: the event layer "
        "(snn-events info, snn_transfer.events readers and framing)."
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snn-transfer",
        description="Train spiking networks on DVS events with knowledge from static images.",
    )
    parser.add_argument("--version", action="version", version=f"snn-transfer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    demo = sub.add_parser(
        "demo",
        help="train the baseline and the transfer method offline on the digits dataset",
        description="Offline demo on scikit-learn's digits (static) and emulated events.",
    )
    demo.add_argument("--quick", action="store_true", help="a sub-minute smoke run")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command in NOT_BUILT:
            print(f"snn-transfer {args.command}: {NOT_BUILT[args.command]}", file=sys.stderr)
            return 2
    except SnnTransferError as error:
        print(f"snn-transfer {args.command}: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
