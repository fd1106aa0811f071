"""What the ``snn-events`` subcommands do (``info``, ``preprocess``, ``render``, ``emulate``,
``datasets``).

Kept apart from the argument parser in ``cli.py``; torch is imported only where frames are
resized (``preprocess`` with a resize, ``render`` of nothing but caches does not need it).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from snn_transfer.errors import ConfigError


def _entry_extras(desc: Any, args: argparse.Namespace) -> dict[str, Any]:
    given = {
        "sensor_size": tuple(args.sensor) if args.sensor else None,
        "format": args.format,
        "test_fraction": args.test_fraction,
    }
    extras = {}
    for key, value in given.items():
        if value is None:
            continue
        if key not in desc.extra:
            flag = {
                "sensor_size": "--sensor",
                "format": "--format",
                "test_fraction": "--test-fraction",
            }
            raise ConfigError(f"{flag[key]} does not apply to dataset {desc.name!r}")
        extras[key] = value
    return extras


def _output_path(out: str | None, split: str, several: bool) -> Path | None:
    if out is None:
        return None
    path = Path(out)
    return path.with_name(f"{path.stem}-{split}{path.suffix}") if several else path


def preprocess(args: argparse.Namespace) -> int:
    """Build the frame cache of one or every official split; print a report per split."""
    from snn_transfer.events.recorded.description import missing_root
    from snn_transfer.events.recorded.loader import cache_split, recorded_dataset
    from snn_transfer.events.recorded.options import recorded_options

    desc = recorded_dataset(args.dataset)
    if args.root is None:
        raise missing_root(desc.name, None, desc.layout, "no --root given")
    given = {
        "root": args.root,
        "framing": args.mode,
        "cache_dir": args.cache_dir,
        "dtype": args.dtype,
        "compression": args.compression,
        "workers": args.workers,
        "on_error": args.on_error,
        "progress": not args.quiet,
        **_entry_extras(desc, args),
    }
    if args.frames is not None:
        given["time_steps"] = args.frames
    if args.size is not None:
        given["size"] = None if args.size == 0 else args.size
    options = recorded_options(desc, given)
    files = desc.list_samples(options.root_path, **options.listing)
    pipeline = desc.pipeline(
        options.framing,
        options.time_steps,
        options.frame_size(files.sensor_size),
        files.sensor_size,
    )
    splits = list(desc.splits) if args.split == "all" else [args.split]
    unknown = [s for s in splits if s not in desc.splits]
    if unknown:
        raise ConfigError(
            f"--split {unknown[0]}: {desc.name} has splits {', '.join(desc.splits)} or all"
        )
    total_skipped = 0
    for split in splits:
        out = _output_path(args.out, split, len(splits) > 1)
        _, report, _ = cache_split(
            desc, files, split, pipeline, options, out=out, shard_size=args.shard_size
        )
        print(f"{split}: " + "\n".join(report.lines()), flush=True)
        total_skipped += len(report.skipped)
    if total_skipped:
        print(
            f"{total_skipped} recordings skipped in all (listed above and in the caches' "
            "attributes)"
        )
    return 0


def _kind(path: Path) -> str | None:
    from snn_transfer.events.io.hdf5 import MAGIC, file_kind, open_hdf5

    with open(path, "rb") as file:
        if file.read(8) != MAGIC:
            return None
    with open_hdf5(path) as file:
        return file_kind(file, path) if "kind" in file.attrs else None


def info(args: argparse.Namespace) -> int:
    """Summaries of caches, event-dataset files and single event files."""
    from snn_transfer.events.cache import summarize_cache
    from snn_transfer.events.io import EventDataset, describe

    for name in args.files:
        path = Path(name)
        kind = _kind(path) if path.is_file() and args.format is None else None
        if kind == "frames":
            summary = summarize_cache(path)
        else:
            summary = describe(path, format=args.format)
            if kind == "event-dataset":
                data = EventDataset(path)
                counts = np.bincount(data.labels, minlength=len(data.classes))
                summary["histogram"] = dict(zip(data.classes, counts.tolist(), strict=True))
        print(path)
        for key, value in summary.items():
            if key == "histogram":
                print(f"  {'histogram':<12} " + ", ".join(f"{c}: {n}" for c, n in value.items()))
            elif key == "skipped" and value:
                print(f"  {'skipped':<12} {len(value)}")
                for item in value:
                    print(f"    {item['name']}: {item['error']}")
            else:
                print(f"  {key:<12} {value}")
    return 0


def sample_frames(path: Path, index: int, steps: int, format: str | None) -> np.ndarray:
    """Frames ``[T, P, H, W]`` of sample ``index`` of a cache or event-dataset file, or of a
    single event file (``ToFrame`` with ``steps`` bins on its declared sensor or extent)."""
    from snn_transfer.events.cache import FrameCache
    from snn_transfer.events.framing.to_frame import ToFrame
    from snn_transfer.events.io import EventDataset, read_events
    from snn_transfer.events.io.base import check_readable

    kind = _kind(check_readable(path)) if format is None else None
    if kind == "frames":
        return FrameCache(path).frames(index)
    if kind == "event-dataset":
        data = EventDataset(path)
        events, _ = data[index]
        sensor = data.sensor_size
    else:
        if index != 0:
            raise ConfigError(f"{path} holds one recording: --index must be 0")
        recording = read_events(path, format)
        events, sensor = recording.events, recording.sensor_size
    if sensor is None:
        extent = (int(events["x"].max()) + 1, int(events["y"].max()) + 1) if len(events) else (1, 1)
        sensor = (*extent, 2)
    return ToFrame(sensor_size=(sensor[0], sensor[1], 2), n_time_bins=steps)(events)


def save_gif(frames: np.ndarray, out: Path, *, scale: int, fps: float) -> Path:
    """One tile per time step, ON/OFF in two colours, on one shared scale, as a looping GIF."""
    from PIL import Image

    from snn_transfer.events.render import render, robust_max

    vmax = robust_max(frames)
    tiles = [render(frames[t : t + 1], vmax=vmax) for t in range(len(frames))]
    images = [
        Image.fromarray(tile).resize(
            (tile.shape[1] * scale, tile.shape[0] * scale), Image.Resampling.NEAREST
        )
        for tile in tiles
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(
        out, save_all=True, append_images=images[1:], duration=max(1, int(1000 / fps)), loop=0
    )
    return out


def render_command(args: argparse.Namespace) -> int:
    from snn_transfer.events.render import render, save_image

    frames = sample_frames(Path(args.file), args.index, args.frames, args.format)
    out = Path(args.out)
    if out.suffix.lower() == ".gif":
        save_gif(frames, out, scale=args.scale, fps=args.fps)
    elif out.suffix.lower() == ".png":
        image = render(frames, columns=args.columns)
        if args.scale > 1:
            image = image.repeat(args.scale, axis=0).repeat(args.scale, axis=1)
        save_image(image, out)
    else:
        raise ConfigError(f"--out {out}: use a .png (image grid) or .gif (animation) file name")
    t, p, h, w = frames.shape
    print(f"wrote {out}: {t} frames of {w}x{h}, {p} polarities")
    return 0


def emulate(args: argparse.Namespace) -> int:
    """Emulate an image source into an event-dataset file."""
    import inspect

    from snn_transfer.events.emulated.cached import write_emulated
    from snn_transfer.events.saccades import SaccadeParams
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


def list_datasets(args: argparse.Namespace) -> int:
    """The registry: every dataset with its summary, layout and options."""
    from snn_transfer.events.registry import dataset_entry, dataset_names

    for name in dataset_names():
        entry = dataset_entry(name)
        static = "static + events" if entry.has_static else "events only"
        print(f"{name:<14} {entry.summary} [{static}]")
        lines = entry.layout.splitlines()
        print(f"{'':<14} layout: {lines[0].removeprefix('  ')}")
        for line in lines[1:]:
            print(f"{'':<22}{line.removeprefix('  ')}")
        options = ", ".join(f"{k}={v!r}" for k, v in entry.options().items())
        print(f"{'':<14} options: {options}")
    return 0
