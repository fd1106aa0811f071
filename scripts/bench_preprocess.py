"""End-to-end preprocessing: a tree of event files into a frame cache, ours against what a
Tonic user runs, in files per second.

The benchmark writes two trees of distinct random recordings as ATIS ``.bin`` files (the
real format) in Tonic's own layout:

* N-MNIST-shaped: ``NMNIST/Train/<digit>/NNNNN.bin``, 34x34, about 4,300 events a file over
  0.31 s (10,000 files; ``--quick`` 500), and one file per ``Test/<digit>`` (our listing
  wants the folders; neither side frames them);
* N-Caltech101-shaped: ``NCALTECH101/Caltech101/<class>/image_NNNN.bin``, the 101 classes,
  240x180, about 200k events a file over 0.3 s (404 files, 4 a class; ``--quick`` 101).

Both sides frame every file of the tree (N-MNIST: the ``Train`` files) with 10 time bins
at the sensor's size into a cache, from an empty one:

* ours: ``snn-events preprocess <dataset> --root R --frames 10 --size 0 --split train
  --workers W --out C --quiet`` run as a command, in a new process as a user runs it
  (N-Caltech101's train split is per class the first ``round(0.9 n)`` files: all of them,
  with at most 4 a class), at 1 and 2 workers; float32 frames, no compression (the defaults), and again with
  ``--dtype uint16`` (the same whole counts at half the bytes; Tonic's frames are int16);
* Tonic: ``tonic.datasets.NMNIST(save_to=R, train=True, transform=ToFrame(sensor_size,
  n_time_bins=10))`` (``NCALTECH101`` likewise, which re-origins x and y; the recordings
  start at x = y = 0, so it changes nothing), ``tonic.DiskCachedDataset(cache_path=C)`` and
  one pass of a ``DataLoader`` (batch 32) with ``num_workers`` 0, 1 and 2. The trees are
  smaller than the ones Tonic's existence check counts (10,000 / 8,709 files), so the check
  is replaced by ``True`` (which spares Tonic its count), and ``download`` by an error.

Runs are timed in turns (ours 1, ours uint16 1, Tonic 0, Tonic 1, ours 2, ours uint16 2,
Tonic 2, then again), each side keeps its best; the listing is part of the time. Ours
includes the command's start-up and imports (about 0.3 s); Tonic's side runs in this
process, with torch and Tonic imported before any timing, so its start-up (about 2 s) is not
counted. Input files sit in the page cache (written just before). Before each run the dirty
pages of the runs before it are written out (``os.sync``, not timed): a run's own writes
count, the previous run's do not. A cache of 10,000 N-MNIST samples is 925 MB in float32; on
a disk slower than the framing the float32 rows measure the disk. Before any figure, the
cached frames of three files are compared: ours equal Tonic's plus the trailing events Tonic
drops.

Ratios: at 1 worker, ours (``--workers 1``) against Tonic's faster of ``num_workers`` 0 and
1; at 2 workers, ours (``--workers 2``) against Tonic's ``num_workers=2``; for each dtype. A ratio is
printed only when both sides' runs lasted at least ``MIN_TIMED_S`` seconds: shorter runs
measure start-up and timer noise, not preprocessing.

    python scripts/bench_preprocess.py [--quick] [--repeats N] [--json PATH] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
from bench_framing import frames_agree
from turns import load_average

from snn_transfer.events.core import make_events
from snn_transfer.events.io import encode_atis, read_atis
from snn_transfer.events.static import MNIST_CLASSES, NCALTECH101_CLASSES

N_BINS = 10
MIN_TIMED_S = 1.0
BATCH = 32
# (side, workers) in the order of one round; "ours-uint16": ours with --dtype uint16
CONFIGS = (
    ("ours", 1), ("ours-uint16", 1), ("tonic", 0), ("tonic", 1),
    ("ours", 2), ("ours-uint16", 2), ("tonic", 2),
)  # fmt: skip
DTYPES = {"ours": "float32", "ours-uint16": "uint16"}


@dataclass(frozen=True)
class Tree:
    """The shape of one dataset's tree, in Tonic's layout."""

    dataset: str  # our registry name
    tonic_class: str
    folder: str  # the class folders' parent, under the root
    archive: str  # the archive a real tree has beside it (Tonic looks for it), under the root
    classes: tuple[str, ...]
    file_name: str  # a format with the file's number
    events: int  # per file, on average
    sensor: tuple[int, int, int]
    duration_us: int
    full_files: int
    quick_files: int


TREES = (
    Tree("n-mnist", "NMNIST", "NMNIST/Train", "NMNIST/train.zip", MNIST_CLASSES, "{:05d}.bin",
         4_325, (34, 34, 2), 310_000, 10_000, 500),
    # every class needs a file; with at most 4 a class our train split is all of them
    Tree("n-caltech101", "NCALTECH101", "NCALTECH101/Caltech101",
         "NCALTECH101/N-Caltech101-archive.zip", NCALTECH101_CLASSES, "image_{:04d}.bin",
         200_000, (240, 180, 2), 300_000, 404, 101),
)  # fmt: skip


def class_folders(tree: Tree) -> list[str]:
    """Folder names of the classes (N-MNIST's are the digits)."""
    return [str(i) for i in range(10)] if tree.dataset == "n-mnist" else list(tree.classes)


def recording(tree: Tree, rng: np.random.Generator) -> np.ndarray:
    """One random recording of the tree's size; its first events sit at x = 0 and y = 0."""
    n = int(rng.integers(int(tree.events * 0.85), int(tree.events * 1.15) + 1))
    width, height, _ = tree.sensor
    x, y = rng.integers(0, width, n), rng.integers(0, height, n)
    x[0], y[1] = 0, 0
    t = np.sort(rng.integers(0, tree.duration_us, n))
    return make_events(x, y, t, rng.integers(0, 2, n))


def write_tree(root: Path, tree: Tree, files: int, seed: int) -> list[str]:
    """Write ``files`` distinct recordings spread over the classes (each class gets one at
    least); returns their paths relative to the root, in our listing's order."""
    rng = np.random.default_rng(seed)
    folders = class_folders(tree)
    per_class = [files // len(folders) + (i < files % len(folders)) for i in range(len(folders))]
    written: list[str] = []
    for folder, count in zip(folders, per_class, strict=True):
        base = root / tree.folder / folder
        base.mkdir(parents=True, exist_ok=True)
        for i in range(1, max(count, 1) + 1):
            path = base / tree.file_name.format(i)
            encode_atis(recording(tree, rng)).tofile(path)
            written.append(str(path.relative_to(root)))
    (root / tree.archive).parent.mkdir(parents=True, exist_ok=True)
    (root / tree.archive).write_bytes(b"")
    if tree.dataset == "n-mnist":  # our listing wants the Test folders too (not framed)
        for folder in folders:
            test = root / "NMNIST/Test" / folder
            test.mkdir(parents=True, exist_ok=True)
            os.link(root / written[0], test / "00001.bin")
    return written


def run_ours(root: Path, tree: Tree, out: Path, workers: int, dtype: str = "float32") -> None:
    """``snn-events preprocess`` of the tree, in a new process (its output is dropped)."""
    argv = [sys.executable, "-m", "snn_transfer.events.cli", "preprocess", tree.dataset, "--root", str(root), "--frames", str(N_BINS),
            "--size", "0", "--split", "train", "--workers", str(workers),
            "--out", str(out), "--quiet", "--dtype", dtype]  # fmt: skip
    run = subprocess.run(argv, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(
            f"snn-events {' '.join(argv[3:])} failed with exit status {run.returncode}:\n"
            + run.stderr[-2000:]
        )


@contextlib.contextmanager
def tonic_without_network(cls):
    """Tonic's dataset class with its existence check passing and its download refused."""
    refuse = RuntimeError("the benchmark tree is incomplete")
    with (
        mock.patch.object(cls, "_check_exists", return_value=True),
        mock.patch.object(cls, "download", side_effect=refuse),
    ):
        yield cls


def tonic_dataset(root: Path, tree: Tree, transform=None):
    import tonic

    extra = {"train": True} if tree.tonic_class == "NMNIST" else {}
    with tonic_without_network(getattr(tonic.datasets, tree.tonic_class)) as cls:
        return cls(save_to=str(root), transform=transform, **extra)


def run_tonic(root: Path, tree: Tree, out: Path, workers: int) -> None:
    """What a Tonic user runs: the dataset with ToFrame, DiskCachedDataset, one DataLoader pass."""
    import tonic
    import torch

    transform = tonic.transforms.ToFrame(sensor_size=tree.sensor, n_time_bins=N_BINS)
    data = tonic_dataset(root, tree, transform)
    cached = tonic.DiskCachedDataset(data, cache_path=str(out))
    loader = torch.utils.data.DataLoader(cached, batch_size=BATCH, num_workers=workers)
    for _ in loader:
        pass


def check_agree(root: Path, tree: Tree, ours: Path, theirs: Path, written: list[str]) -> dict:
    """Frames of the first, middle and last file: ours (our cache) against Tonic's (its
    cache files, numbered in its listing's order)."""
    import h5py

    from snn_transfer.events.cache import FrameCache

    cache = FrameCache(ours)
    order = [os.path.relpath(p, root) for p in tonic_dataset(root, tree).data]
    checked, agree = [], True
    for path in (written[0], written[len(written) // 2], written[-1]):
        # our sample names: Train/<digit>/<file> (N-MNIST), <class>/<file> (N-Caltech101)
        name = "/".join(Path(path).parts[-3 if tree.dataset == "n-mnist" else -2 :])
        with h5py.File(theirs / f"{order.index(path)}_0.hdf5", "r") as file:
            frames = file["data/0"][:]
        events = read_atis(root / path).events
        mine = cache.frames(cache.names.index(name))
        agree = agree and frames_agree(mine, frames, events)
        checked.append(path)
    return {"agree": bool(agree), "checked": checked}


def folder_bytes(folder: Path) -> int:
    if folder.is_file():
        return folder.stat().st_size
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def warm_imports() -> None:
    """Import what Tonic's side runs (its imports are not timed) and compile our ATIS
    decoder into numba's cache on disk, which our command then loads (that load is timed)."""
    import h5py  # noqa: F401
    import tonic  # noqa: F401
    import torch  # noqa: F401

    from snn_transfer.events import cache_build, cli, commands  # noqa: F401
    from snn_transfer.events.recorded.loader import recorded_dataset

    for tree in TREES:
        recorded_dataset(tree.dataset)  # loads the registry's entry and its listing
    with tempfile.TemporaryDirectory() as folder:  # the compiled ATIS decoder, loaded once
        path = Path(folder) / "one.bin"
        encode_atis(make_events([0], [0], [0], [0])).tofile(path)
        read_atis(path)


def bench_tree(tree: Tree, files: int, repeats: int, work: Path, seed: int) -> dict[str, Any]:
    root = work / "tree"
    written = write_tree(root, tree, files, seed)
    files = len(written)
    seconds: dict[str, list[float]] = {f"{side}-{w}": [] for side, w in CONFIGS}
    sizes, check = {}, None
    for _ in range(repeats):
        for side, workers in CONFIGS:
            folder = work / f"cache-{side}-{workers}"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            os.sync()  # the earlier runs' writes are not this run's
            start = time.perf_counter()
            if side == "tonic":
                run_tonic(root, tree, folder, workers)
            else:
                run_ours(root, tree, folder / "frames.h5", workers, DTYPES[side])
            seconds[f"{side}-{workers}"].append(time.perf_counter() - start)
            sizes[side] = folder_bytes(folder)
        if check is None:
            ours, theirs = work / "cache-ours-1" / "frames.h5", work / "cache-tonic-0"
            check = check_agree(root, tree, ours, theirs, written)
    best = {k: min(v) for k, v in seconds.items()}
    rows = []
    for (workers, peers), side in itertools.product(
        ((1, ("tonic-0", "tonic-1")), (2, ("tonic-2",))), DTYPES
    ):
        peer = min(peers, key=lambda k: best[k])
        ours_s, peer_s = best[f"{side}-{workers}"], best[peer]
        timed_enough = min(ours_s, peer_s) >= MIN_TIMED_S
        rows.append({
            "workers": workers, "dtype": DTYPES[side],
            "tonic_num_workers": int(peer.split("-")[-1]),
            "ours_s": ours_s, "tonic_s": peer_s,
            "ours_files_per_s": files / ours_s, "tonic_files_per_s": files / peer_s,
            "ratio": peer_s / ours_s if timed_enough else None,
        })  # fmt: skip
    events = [len(read_atis(root / p).events) for p in written[:: max(1, len(written) // 50)]]
    return {
        "dataset": tree.dataset,
        "tonic_class": tree.tonic_class,
        "sensor": list(tree.sensor),
        "files": files,
        "events_per_file": float(np.mean(events)),
        "bytes_per_file": int(np.mean([os.path.getsize(root / p) for p in written])),
        "seconds": seconds,
        "rows": rows,
        "ours_cache_bytes": sizes.get("ours"),
        "ours_uint16_cache_bytes": sizes.get("ours-uint16"),
        "tonic_cache_bytes": sizes.get("tonic"),
        **check,
    }


def line(result: dict[str, Any], row: dict[str, Any]) -> str:
    head = (
        f"preprocess {result['dataset']} {result['files']:,} files "
        f"({result['events_per_file']:,.0f} ev, {result['sensor'][0]}x{result['sensor'][1]}) "
        f"workers={row['workers']}: ours {row['dtype']} {row['ours_files_per_s']:,.0f} files/s, "
        "tonic "
        f"{row['tonic_files_per_s']:,.0f} files/s (num_workers={row['tonic_num_workers']}), "
    )
    if row["ratio"] is None:
        short = min(row["ours_s"], row["tonic_s"])
        return head + f"no ratio: a run lasted {short:.2f} s (< {MIN_TIMED_S:g} s)"
    return head + f"{row['ratio']:.1f}x" + ("" if result["agree"] else "  OUTPUTS DIFFER")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer files (500 and 101), one round")
    parser.add_argument("--repeats", type=int, default=None, help="rounds in turns (default 3)")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="write results")
    parser.add_argument("--workdir", type=Path, default=None, help="where the trees go (temp)")
    parser.add_argument("--only", choices=[t.dataset for t in TREES], default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import tonic

    repeats = args.repeats or (1 if args.quick else 3)
    warm_imports()
    load_start = load_average()
    results = []
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="bench-preprocess-") as work:
        for tree in TREES:
            if args.only not in (None, tree.dataset):
                continue
            files = tree.quick_files if args.quick else tree.full_files
            result = bench_tree(tree, files, repeats, Path(work) / tree.dataset, args.seed)
            for row in result["rows"]:
                print(line(result, row), flush=True)
            results.append(result)
    out = {
        "quick": args.quick,
        "repeats": repeats,
        "min_timed_s": MIN_TIMED_S,
        "n_time_bins": N_BINS,
        "batch": BATCH,
        "versions": {"numpy": np.__version__, "tonic": tonic.__version__},
        "load_average": [load_start, load_average()],
        "trees": results,
        "all_agree": all(r["agree"] for r in results),
    }
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2))
    return 0 if out["all_agree"] else 1


if __name__ == "__main__":
    sys.exit(main())
