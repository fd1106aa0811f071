"""The ``snn-events`` command line: inspect and preprocess event data.

Imports no torch: it must start fast and work without the training stack.
"""

from __future__ import annotations

import argparse
import sys

from snn_transfer._version import __version__
from snn_transfer.errors import SnnTransferError


def _info(args: argparse.Namespace) -> int:
    from snn_transfer.events.commands import info

    return info(args)


def _preprocess(args: argparse.Namespace) -> int:
    from snn_transfer.events.commands import preprocess

    return preprocess(args)


def _render(args: argparse.Namespace) -> int:
    from snn_transfer.events.commands import render_command

    return render_command(args)


def _emulate(args: argparse.Namespace) -> int:
    from snn_transfer.events.commands import emulate

    return emulate(args)


def _datasets(args: argparse.Namespace) -> int:
    from snn_transfer.events.commands import list_datasets

    return list_datasets(args)


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
        help="sensor size, counts, duration, class histogram, fingerprint of files",
        description="Describe event files in any supported format, event-dataset files and "
        "frame caches (samples, class histogram, fingerprint, spec, skipped recordings).",
        epilog="examples: snn-events info recording.bin --format atis\n"
        "          snn-events info ~/.cache/snn-transfer/frames/n-caltech101-train-*.h5",
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    _add_preprocess(sub)
    _add_render(sub)
    return parser


def _add_preprocess(sub) -> None:
    pre = sub.add_parser(
        "preprocess",
        help="frame a recorded dataset into the HDF5 frame cache training reads",
        description="Frame every recording of a registered dataset (or one split) into a "
        "kill-safe, resumable HDF5 frame cache, in parallel processes. Without --out the "
        "cache goes where training looks for it (the cache folder, by fingerprint).",
        epilog="example: snn-events preprocess n-caltech101 --root ~/data/N-Caltech101 "
        "--out ncaltech.h5 --frames 10 --size 48 --workers 4 --on-error skip",
    )
    pre.add_argument("dataset", metavar="DATASET", help="a name from 'snn-events datasets'")
    pre.add_argument("--root", required=True, metavar="DIR", help="the dataset's local folder")
    pre.add_argument(
        "--out",
        metavar="FILE.h5",
        help="output file (with --split all: FILE-train.h5, FILE-test.h5); default: the cache "
        "folder",
    )
    pre.add_argument("--cache-dir", metavar="DIR", help="cache folder (default $SNN_TRANSFER_CACHE "
                     "or ~/.cache/snn-transfer)")  # fmt: skip
    pre.add_argument("--frames", type=int, metavar="T", help="time steps (default: the entry's)")
    pre.add_argument("--size", type=int, help="frame size in pixels, 0 = the sensor's own size")
    pre.add_argument("--mode", choices=("default", "paper"), default="default", help="framing")
    pre.add_argument("--split", default="all", help="train, test or all (default)")
    pre.add_argument("--workers", type=int, default=1, metavar="N", help="parallel processes")
    pre.add_argument("--on-error", choices=("fail", "skip"), default="fail")
    pre.add_argument("--dtype", choices=("float32", "float16", "uint16"), default="float32")
    pre.add_argument("--compression", choices=("none", "lzf", "gzip"), default="none")
    pre.add_argument("--shard-size", type=int, default=64, metavar="K", help="samples per shard")
    pre.add_argument("--sensor", nargs=2, type=int, metavar=("W", "H"), help="folder, cep-dvs")
    pre.add_argument("--format", help="event file format (folder entry)")
    pre.add_argument("--test-fraction", type=float, help="folder entry without train/test")
    pre.add_argument("--quiet", action="store_true", help="no progress bar")
    pre.set_defaults(run=_preprocess)


def _add_render(sub) -> None:
    render = sub.add_parser(
        "render",
        help="draw a sample's frames as an image grid (.png) or animation (.gif)",
        description="Render the frames of one sample of a frame cache, an event-dataset "
        "file or a single event file: ON events in red, OFF in blue.",
        epilog="example: snn-events render ncaltech-train.h5 --index 3 --out sample.gif",
    )
    render.add_argument("file", metavar="FILE")
    render.add_argument("--index", type=int, default=0, help="sample index (default 0)")
    render.add_argument("--out", required=True, metavar="PATH.png|PATH.gif")
    render.add_argument("--frames", type=int, default=10, help="time bins for event files")
    render.add_argument("--format", default=None, help="force the event file format")
    render.add_argument("--columns", type=int, default=None, help="tiles per row (png)")
    render.add_argument("--scale", type=int, default=1, help="integer zoom factor")
    render.add_argument("--fps", type=float, default=5.0, help="frames per second (gif)")
    render.set_defaults(run=_render)


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
