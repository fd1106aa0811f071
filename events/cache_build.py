"""Build a frame cache so that a kill at any moment loses nothing finished.

The samples are cut into shards of ``shard_size`` consecutive samples. Each shard is framed
(in parallel processes when ``workers > 1``), written to a temporary file in ``<out>.shards/``
and renamed to ``NNNNN.h5`` when complete; a line per finished shard goes to
``<out>.shards/journal.jsonl``, next to a ``manifest.json`` holding the spec. The shards are
merged in order (``cache_merge``) into a temporary file renamed to ``<out>`` last; only then
is the shard folder removed. A build that fails on any bad recording (the default) knows
its size in advance and merges each shard as soon as it and those before it exist, while
the workers frame the later ones; with ``on_error="skip"`` the merge waits for the last
shard. An HDF5 file killed mid-write may be
unreadable, so nothing ever resumes inside one: a rerun deletes temporary files, keeps the
finished shards and frames only the rest. A file under the final name is always complete.

Memory is bounded by the shard size, not by the number of samples: progress goes to the
journal on disk, the merge holds one shard open at a time, and the merged file's HDF5
chunk and metadata caches are capped (their defaults grow with the number of chunks, one
per sample, to tens of MiB).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from snn_transfer.atomic import TEMPORARY_GLOB, atomic_output, write_bytes
from snn_transfer.errors import ConfigError, DatasetError, EventFormatError
from snn_transfer.events.cache import (
    CacheMismatchError,
    CacheSpec,
    FrameCache,
    check_compression,
    spec_differences,
)
from snn_transfer.events.cache_merge import merge_shards, shard_name
from snn_transfer.events.io.hdf5 import LIBVER, fixed_text

ON_ERROR = ("fail", "skip")
DEFAULT_SHARD_SIZE = 64


@dataclass
class BuildReport:
    """What a build did: the cache path, samples kept, recordings skipped (name + error),
    shards framed now and shards reused from an interrupted run."""

    path: Path
    samples: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    shards_built: int = 0
    shards_reused: int = 0
    existed: bool = False

    def lines(self) -> list[str]:
        head = f"{self.path}: {self.samples} samples"
        if self.existed:
            head += " (already built, nothing to do)"
        elif self.shards_reused:
            head += f" ({self.shards_reused} finished shards resumed, {self.shards_built} built)"
        lines = [head, f"skipped {len(self.skipped)} recordings"]
        lines += [f"  {s['name']}: {s['error']}" for s in self.skipped]
        return lines


def to_dtype(frames: np.ndarray, dtype: str, name: str) -> np.ndarray:
    """``frames`` as the cache's ``dtype``, refusing values the dtype cannot hold."""
    if dtype == "float32":
        return np.asarray(frames, np.float32)
    if dtype == "float16":
        if frames.size and float(np.abs(frames).max()) > np.finfo(np.float16).max:
            raise ConfigError(
                f"{name}: frame values up to {float(np.abs(frames).max()):g} do not fit "
                "float16 (max 65504); use dtype float32"
            )
        return frames.astype(np.float16)
    whole = np.array_equal(frames, np.round(frames))
    if not whole or (frames.size and (frames.min() < 0 or frames.max() > 65535)):
        raise ConfigError(
            f"{name}: dtype uint16 stores raw integer event counts (0-65535) only, but these "
            "frames hold "
            + ("fractions (resized or normalised frames)" if not whole else "values outside it")
            + "; use dtype float32 or float16, or a framing without resize"
        )
    return frames.astype(np.uint16)


_SOURCE: Any = None


def _init_worker(source: Any) -> None:
    global _SOURCE
    _SOURCE = source


def start_method() -> str:
    """How the workers are started: ``"fork"`` on Linux in a process that has not imported
    torch (``snn-events preprocess``): a forked worker starts at once with the package
    already imported; ``"spawn"`` elsewhere (torch's thread pools and CUDA state do not
    survive a fork), where each worker imports the package first (about half a second)."""
    return "fork" if sys.platform.startswith("linux") and "torch" not in sys.modules else "spawn"


def _write_shard(job: tuple) -> tuple[int, int, list[dict[str, str]]]:
    """Frame samples ``[start, stop)`` into shard file ``index``; returns (index, kept,
    skipped). Runs in a worker (source from ``_init_worker``) or in the main process."""
    import h5py

    folder, index, start, stop, dtype, on_error, fingerprint, source = job
    source = _SOURCE if source is None else source
    # one block for the shard's frames, filled as they come: no list of arrays to stack, and
    # each sample's frames are freed at once, so the next ones reuse their memory
    block, rows, counts, durations, skipped = None, [], [], [], []
    for i in range(start, stop):
        name = source.names[i]
        try:
            sample = source.load(i)
        except Exception as error:
            if on_error != "skip" or isinstance(error, ConfigError):
                raise
            skipped.append({"index": i, "name": name, "error": str(error)})
            continue
        frames = to_dtype(sample.frames, dtype, name)
        if block is None:
            block = np.empty((stop - i, *frames.shape), frames.dtype)
        elif frames.shape != block.shape[1:]:
            raise ValueError(
                f"{name}: frames of shape {frames.shape}, the shard's others are "
                f"{block.shape[1:]}; all input arrays must have the same shape"
            )
        block[len(rows)] = frames
        rows.append(i)
        counts.append(sample.events)
        durations.append(sample.duration_us)
    final = Path(folder) / shard_name(index)
    with atomic_output(final) as partial, h5py.File(partial, "w", libver=LIBVER) as file:
        file.attrs["fingerprint"] = fixed_text(fingerprint)
        file.attrs["skipped"] = fixed_text(json.dumps(skipped))
        stack = block[: len(rows)] if block is not None else np.zeros((0,), dtype)
        file.create_dataset("frames", data=stack)
        file.create_dataset("rows", data=np.asarray(rows, np.int64))
        file.create_dataset("event_counts", data=np.asarray(counts, np.int64))
        file.create_dataset("durations_us", data=np.asarray(durations, np.int64))
    return index, len(rows), skipped


def _finished_rows(path: Path, fingerprint: str) -> int | None:
    """The samples a finished shard of this build holds, or None if it is missing, damaged
    or of another spec."""
    import h5py

    try:
        with h5py.File(path, "r") as file:
            rows = file["rows"].shape[0]
            same = file.attrs["fingerprint"].decode() == fingerprint
            return rows if same and rows == file["event_counts"].shape[0] else None
    except Exception:
        return None


def _prepare_folder(folder: Path, spec: CacheSpec, n: int, shard_size: int) -> int:
    """Create or check ``<out>.shards``; returns the shard size to use (a resumed build
    keeps its own)."""
    manifest = folder / "manifest.json"
    if manifest.exists():
        stored = json.loads(manifest.read_text())
        if stored.get("fingerprint") != spec.fingerprint():
            differences = spec_differences(stored.get("spec", {}), spec.fields())
            raise CacheMismatchError(
                f"{folder}: an interrupted build of another spec is here; differing fields: "
                f"{'; '.join(differences)}. Delete the folder or choose another output path"
            )
        return int(stored["shard_size"])
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(
        {
            "fingerprint": spec.fingerprint(),
            "spec": spec.fields(),
            "samples": n,
            "shard_size": shard_size,
        },
        indent=1,
    )
    write_bytes(manifest, [text.encode()], durable=False)
    return shard_size


def _journal(folder: Path, entry: dict[str, Any]) -> None:
    # flushed, not synced: a killed build loses no line (they are in the kernel's hands), and
    # a resume reads the shard files, not this log; an fsync per shard also forced the
    # file system to write the shards out at once, which cost more than building them
    with open(folder / "journal.jsonl", "a", encoding="utf-8") as file:
        file.write(json.dumps(entry) + "\n")


def build_cache(
    out: str | Path,
    source: Any,
    spec: CacheSpec,
    *,
    classes: tuple[str, ...],
    sensor_size: tuple[int, ...] | None = None,
    compression: str = "none",
    workers: int = 1,
    shard_size: int = DEFAULT_SHARD_SIZE,
    on_error: str = "fail",
    progress: bool = True,
) -> BuildReport:
    """Build (or resume, or find) the cache of ``source`` framed by ``spec`` at ``out``.

    Args:
        source: ``len``, ``labels``, ``names`` and ``load(i) -> Sample`` (``FramedFiles``);
            picklable when ``workers > 1``.
        spec: the cache key; an existing ``out`` built for another spec is refused.
        classes, sensor_size: stored as metadata.
        compression: "none", "lzf" or "gzip" (does not change the key).
        workers: processes framing shards in parallel (1: this process).
        on_error: "fail" raises on the first bad recording (finished shards are kept);
            "skip" leaves it out and records it with its error.

    Returns:
        :class:`BuildReport`.
    """
    out = Path(out)
    check_compression(compression)
    if on_error not in ON_ERROR:
        raise ConfigError(f"on_error must be 'fail' or 'skip', not {on_error!r}")
    folder = out.with_name(out.name + ".shards")
    if out.exists():
        cache = FrameCache(out, expect=spec)
        shutil.rmtree(folder, ignore_errors=True)  # left when killed right after the rename
        return BuildReport(out, len(cache), cache.skipped, existed=True)
    n = len(source)
    if n == 0:
        raise DatasetError(f"{out}: no samples to cache for {spec.dataset} {spec.split}")
    shard_size = _prepare_folder(folder, spec, n, max(1, int(shard_size)))
    fingerprint = spec.fingerprint()
    for stale in folder.glob(TEMPORARY_GLOB):  # of an interrupted build: no writer runs now
        stale.unlink()
    bounds = [(s, min(s + shard_size, n)) for s in range(0, n, shard_size)]
    # shard index -> the samples it holds, for the finished ones; the built ones join later
    found = ((i, _finished_rows(folder / shard_name(i), fingerprint)) for i in range(len(bounds)))
    done = {i: rows for i, rows in found if rows is not None}
    todo = [i for i in range(len(bounds)) if i not in done]
    report = BuildReport(out, shards_reused=len(done))
    bar = None
    if progress and todo:
        from tqdm import tqdm

        initial = sum(bounds[i][1] - bounds[i][0] for i in done)
        bar = tqdm(total=n, initial=initial, desc=f"caching {out.name}", unit="sample")
    workers = max(1, min(int(workers), len(todo)))
    jobs = [
        (
            str(folder),
            i,
            *bounds[i],
            spec.dtype,
            on_error,
            fingerprint,
            source if workers == 1 else None,
        )
        for i in todo
    ]
    pool = None
    started = time.monotonic()

    def finished(results: Iterator[tuple]) -> Iterator[Path]:
        """The shard files in order, each as soon as it and those before it exist."""
        following = 0
        try:
            for index, kept, skipped in results:
                start, stop = bounds[index]
                entry = {"shard": index, "samples": stop - start, "kept": kept}
                seconds = round(time.monotonic() - started, 3)
                _journal(folder, {**entry, "skipped": len(skipped), "seconds": seconds})
                report.shards_built += 1
                done[index] = kept
                if bar is not None:
                    bar.update(stop - start)
                while following in done:
                    yield folder / shard_name(following)
                    following += 1
        except (EventFormatError, DatasetError) as error:
            kept = len(list(folder.glob("*.h5")))
            kind = DatasetError if isinstance(error, DatasetError) else EventFormatError
            raise kind(
                f"{error}\n{kept} finished shards of {len(bounds)} are kept in {folder}; fix "
                "or remove the recording and run again to resume, or skip bad recordings "
                "(on_error='skip', --on-error skip)"
            ) from None
        yield from (folder / shard_name(i) for i in range(following, len(bounds)))

    try:
        if workers > 1:
            from multiprocessing import get_context

            context = get_context(start_method())
            pool = context.Pool(workers, initializer=_init_worker, initargs=(source,))
            results = pool.imap_unordered(_write_shard, jobs)
        else:
            results = map(_write_shard, jobs)
        if on_error == "fail":
            # every sample is kept or the build stops: the size is known before the shards
            # exist, and each is merged while the workers frame the later ones
            total = sum(done.values()) + sum(bounds[i][1] - bounds[i][0] for i in todo)
            shards: Iterable[Path] = finished(results)
        else:
            shards = list(finished(results))
            total = sum(done.values())
        merge_shards(
            out, shards, source, spec, classes, sensor_size, compression, report, total=total
        )
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        if bar is not None:
            bar.close()
    shutil.rmtree(folder, ignore_errors=True)
    return report
