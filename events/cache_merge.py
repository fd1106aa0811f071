"""Merging a frame cache's finished shards into the cache file (``cache_build`` makes the
shards).

The shards' columns are concatenated in order into a temporary file, renamed to the
cache's name last. Memory does not grow with the number of samples: one shard is open at
a time, the frames go through one buffer of :data:`MERGE_BLOCK` samples, and the output's
HDF5 chunk and metadata caches are capped. Uncompressed frames (one chunk per sample) are
written as raw chunks, without HDF5's selection and conversion per block.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from snn_transfer.atomic import atomic_output, remove_stale_temporaries
from snn_transfer.errors import DatasetError
from snn_transfer.events.io.hdf5 import LIBVER, fixed_text

#: samples copied per step when the shards are merged
MERGE_BLOCK = 16
INT_COLUMNS = ("labels", "event_counts", "durations_us")
#: HDF5 metadata cache of the merged file (see ``cap_metadata_cache``)
METADATA_CACHE_BYTES = 2**18


def shard_name(index: int) -> str:
    """The file name of shard ``index`` in the shard folder."""
    return f"{index:05d}.h5"


def cap_metadata_cache(file: Any) -> None:
    """Cap HDF5's metadata cache of ``file`` at :data:`METADATA_CACHE_BYTES`.

    Its adaptive default grows to 32 MiB as the chunk index (a B-tree with one entry per
    sample) grows, and a B-tree node takes several times its accounted size in memory;
    appending in order touches only the newest nodes, so a small cache costs no speed.
    """
    config = file.id.get_mdc_config()
    config.set_initial_size = True
    config.initial_size = config.max_size = METADATA_CACHE_BYTES
    config.min_size = min(config.min_size, METADATA_CACHE_BYTES)
    file.id.set_mdc_config(config)


def copy_frames(source: Any, target: Any, start: int, buffer: np.ndarray, raw: bool) -> None:
    """Copy a shard's frames into ``target[start:]``, :data:`MERGE_BLOCK` samples at a time
    through ``buffer``. ``raw``: ``target`` is uncompressed with one chunk per sample, so each
    sample's bytes are its chunk, written as they are (no selection or conversion)."""
    n = source.shape[0]
    for block in range(0, n, MERGE_BLOCK):
        end = min(block + MERGE_BLOCK, n)
        source.read_direct(buffer, np.s_[block:end], np.s_[: end - block])
        if not raw:
            target[start + block : start + end] = buffer[: end - block]
            continue
        zeros = (0,) * (buffer.ndim - 1)
        for k in range(end - block):
            target.id.write_direct_chunk((start + block + k, *zeros), buffer[k])


def merge_shards(
    out: Path,
    paths: Iterable[Path],
    source: Any,
    spec: Any,
    classes: tuple[str, ...],
    sensor_size: tuple[int, ...] | None,
    compression: str,
    report: Any,
    total: int,
) -> None:
    """Concatenate the shards into a temporary file and rename it to ``out``.

    ``paths`` in shard order, merged as they are yielded (later ones may still be being
    built); ``total``: the number of samples they hold, so that every dataset is created at
    its final length.

    Memory does not grow with the number of samples: one shard is open at a time (an open
    HDF5 file holds about half a MiB of caches), the columns are copied a shard at a time and
    the frames in blocks of :data:`MERGE_BLOCK` samples, and the HDF5 caches of the output
    are capped; nothing of size N is held but the source's own labels and names.
    """
    import h5py

    from snn_transfer._version import __version__

    remove_stale_temporaries(out.parent, f".{out.name}.*.tmp")  # of a killed merge
    options = {} if compression == "none" else {"compression": compression}
    text = h5py.string_dtype("utf-8")
    labels = np.asarray(source.labels)
    # every chunk is written once and whole: a chunk cache (HDF5 2.0: 8 MiB and 8191 entries
    # of ~0.4 KiB bookkeeping each) would only hold on to the last 8191 samples
    with (
        atomic_output(out) as partial,
        h5py.File(partial, "w", libver=LIBVER, rdcc_nbytes=0) as file,
    ):
        cap_metadata_cache(file)
        frames = None
        start = 0
        for path in paths:
            with h5py.File(path, "r") as shard:
                report.skipped += json.loads(shard.attrs["skipped"].decode())
                rows = shard["rows"][:]  # one shard's worth: as much as building it held
                if not len(rows):  # every recording of the shard was skipped
                    continue
                if frames is None:  # the first shard with frames gives their shape
                    shape = tuple(int(v) for v in shard["frames"].shape[1:])
                    frames = file.create_dataset(
                        "frames", (total, *shape), dtype=spec.dtype, chunks=(1, *shape), **options
                    )
                    columns = {k: file.create_dataset(k, (total,), np.int64) for k in INT_COLUMNS}
                    names = file.create_dataset("names", (total,), dtype=text)
                    buffer = np.empty((MERGE_BLOCK, *shape), spec.dtype)  # reused every block
                stop = start + len(rows)
                if stop > total:  # a shard changed after it was counted: nothing is renamed
                    break
                columns["labels"][start:stop] = labels[rows]
                for key in ("event_counts", "durations_us"):
                    columns[key][start:stop] = shard[key][:]
                names[start:stop] = [source.names[i] for i in rows]
                copy_frames(shard["frames"], frames, start, buffer, raw=not options)
                start = stop
        if frames is None:
            raise DatasetError(
                f"{out}: none of the {len(source)} recordings could be framed; see the errors: "
                + "; ".join(f"{s['name']}: {s['error']}" for s in report.skipped[:5])
            )
        if stop != total:
            raise DatasetError(
                f"{out}: the shards do not hold the {total} samples counted (one changed during "
                "the build); run the build again (finished shards are reused)"
            )
        file.create_dataset("classes", data=list(classes), dtype=text)
        attrs = {
            "kind": "frames",
            "fingerprint": spec.fingerprint(),
            "spec": json.dumps(spec.fields(), sort_keys=True),
            "version": __version__,
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "dataset": spec.dataset,
            "split": spec.split,
            "dtype": spec.dtype,
            "compression": compression,
            "skipped": json.dumps(report.skipped),
        }
        for key, value in attrs.items():
            file.attrs[key] = fixed_text(value)
        if sensor_size is not None:
            file.attrs["sensor_size"] = np.asarray(sensor_size, np.int64)
        file.attrs["complete"] = True  # written last: a file without it never opens
    report.samples = start
