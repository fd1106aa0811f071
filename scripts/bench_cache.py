"""Reading cached frames: our HDF5 frame cache vs Tonic's DiskCachedDataset, same frames.

Both caches hold the same float32 frames ``[N, T, 2, H, W]`` (sparse event counts). Each is
read through a torch DataLoader (batch 32, no shuffling) with 0 and 2 worker processes
after one warm-up epoch; the score is samples per second of the best timed epoch, epochs
taken in turns so that other load on the machine hits every cache alike. Tonic's
cache is measured with its default lzf compression and uncompressed; ours with its
default (no compression) and with lzf. Bytes on disk are reported for every cache.

    python scripts/bench_cache.py [--quick] [--samples N] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


class ArrayFrames:
    """A frame source over an in-memory array, for ``build_cache``."""

    def __init__(self, frames: np.ndarray, labels: np.ndarray) -> None:
        self.frames, self.labels = frames, labels
        self.names = [f"sample{i:05d}" for i in range(len(frames))]

    def __len__(self) -> int:
        return len(self.frames)

    def load(self, index: int):
        from snn_transfer.events.recorded.files import Sample

        return Sample(self.frames[index], -1, -1)


class ListDataset:
    """What Tonic's cache wraps: ``ds[i] -> (frames, label)``."""

    def __init__(self, frames: np.ndarray, labels: np.ndarray) -> None:
        self.frames, self.labels = frames, labels

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int):
        return self.frames[index], int(self.labels[index])


def make_frames(n: int, shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Sparse event-count frames: about 30 % of the pixels hold Poisson counts."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(1.5, (n, *shape)) * (rng.random((n, *shape)) < 0.3)
    return counts.astype(np.float32), rng.integers(0, 10, n)


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def best_rates(datasets: dict, workers: int, epochs: int) -> dict[str, float]:
    """Samples per second of each dataset through a DataLoader: the best of ``epochs`` timed
    epochs, taken in turns (ours, peer, peer, ours, ...) so that load from other processes
    on the machine hits all alike."""
    import torch

    # one intra-op thread, as in DataLoader workers: on a shared machine a multi-threaded
    # torch.stack in the collate step of the main process can cost more than any read
    torch.set_num_threads(1)
    loaders = {
        name: torch.utils.data.DataLoader(
            dataset, batch_size=32, num_workers=workers, persistent_workers=workers > 0
        )
        for name, dataset in datasets.items()
    }
    for loader in loaders.values():  # warm-up: worker start, file handles, page cache
        for _ in loader:
            pass
    best = dict.fromkeys(loaders, 0.0)
    for _ in range(epochs):
        for name, loader in loaders.items():
            start = time.perf_counter()
            for _ in loader:
                pass
            rate = len(datasets[name]) / (time.perf_counter() - start)
            best[name] = max(best[name], rate)
    return best


def build_ours(folder: Path, frames: np.ndarray, labels: np.ndarray, compression: str):
    from snn_transfer.events.cache import CacheSpec, FrameCache
    from snn_transfer.events.cache_build import build_cache
    from snn_transfer.events.datasets import EventFrames
    from snn_transfer.events.framing import FramePipeline, ToFrame

    pipeline = FramePipeline(ToFrame((1, 1, 2), n_time_bins=1))  # a stand-in: frames are given
    spec = CacheSpec("bench", "train", "0", len(frames), pipeline)
    path = folder / f"ours-{compression}.h5"
    source = ArrayFrames(frames, labels)
    classes = tuple(map(str, range(10)))
    build_cache(path, source, spec, classes=classes, compression=compression, progress=False)
    cache = FrameCache(path, expect=spec)
    assert np.array_equal(cache[len(cache) - 1][0], frames[-1])
    return EventFrames(cache, np.arange(len(cache)), None), path.stat().st_size


def build_tonic(folder: Path, frames: np.ndarray, labels: np.ndarray, compress: bool):
    import tonic

    path = folder / ("tonic-lzf" if compress else "tonic-raw")
    cached = tonic.DiskCachedDataset(
        ListDataset(frames, labels), cache_path=str(path), compress=compress
    )
    for i in range(len(cached)):  # fill the cache
        cached[i]
    assert np.array_equal(cached[len(cached) - 1][0], frames[-1])
    return cached, folder_bytes(path)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few samples, two timed epochs")
    parser.add_argument("--samples", type=int, default=None, help="cached samples (default 400)")
    parser.add_argument("--frames", type=int, default=10, help="T")
    parser.add_argument("--size", type=int, default=48, help="H = W")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)
    n = args.samples or (64 if args.quick else 400)
    epochs = 2 if args.quick else 5
    shape = (args.frames, 2, args.size, args.size)
    frames, labels = make_frames(n, shape)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        caches = {
            "ours": build_ours(folder, frames, labels, "none"),
            "ours-lzf": build_ours(folder, frames, labels, "lzf"),
            "tonic": build_tonic(folder, frames, labels, compress=True),
            "tonic-uncompressed": build_tonic(folder, frames, labels, compress=False),
        }
        pairs = [("ours", "tonic"), ("ours", "tonic-uncompressed"), ("ours-lzf", "tonic")]
        for workers in (0, 2):
            rates = best_rates({k: v[0] for k, v in caches.items()}, workers, epochs)
            for mine, peer in pairs:
                row = {
                    "samples": n,
                    "shape": list(shape),
                    "workers": workers,
                    "ours": mine,
                    "peer": peer,
                    "ours_samples_per_s": rates[mine],
                    "peer_samples_per_s": rates[peer],
                    "ratio": rates[mine] / rates[peer],
                    "ours_bytes": caches[mine][1],
                    "peer_bytes": caches[peer][1],
                }
                rows.append(row)
                print(
                    f"cache {n} samples {'x'.join(map(str, shape))} workers={workers}: "
                    f"{mine} {row['ours_samples_per_s']:.0f} samples/s, {peer} "
                    f"{row['peer_samples_per_s']:.0f} samples/s, {row['ratio']:.1f}x; size "
                    f"{mine} {row['ours_bytes'] / 1e6:.1f} MB, "
                    f"{peer} {row['peer_bytes'] / 1e6:.1f} MB",
                    flush=True,
                )
    result = {"quick": args.quick, "epochs": epochs, "rows": rows}
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
