"""Emulated event datasets, generated once and found again by fingerprint.

A static source turned into events by the saccade emulator is stored as an ``event-dataset``
HDF5 file in a cache folder. Its file name carries a fingerprint of everything that decides
its content (source, images, emulator parameters, sensor, seed), so neither an epoch nor a
second run re-emulates, and a change of any of these builds a new file instead of serving a
stale one. Static images emulated as the static branch's inputs
(:func:`emulated_static_frames`) are kept as framed ``.npy`` arrays the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from snn_transfer.atomic import save_array
from snn_transfer.events.cache import default_cache_dir
from snn_transfer.events.framing.to_frame import ToFrame
from snn_transfer.events.io.event_dataset import EventDataset, EventDatasetWriter
from snn_transfer.events.saccades import SaccadeParams, emulate_saccades


def emulation_fingerprint(
    source_id: str,
    names: Sequence[str],
    sensor_size: tuple[int, int],
    params: SaccadeParams,
    seed: int,
) -> str:
    """16 hex digits over the source, the image names (in order), sensor, parameters, seed."""
    payload = {
        "source": source_id,
        "names": hashlib.sha256("\n".join(names).encode()).hexdigest(),
        "sensor": [int(s) for s in sensor_size],
        "params": params.fingerprint(),
        "seed": int(seed),
    }
    text = json.dumps(payload, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _emulate_one(job: tuple) -> np.ndarray:
    image, sensor_size, params, seed, index = job
    rng = np.random.default_rng([int(seed), int(index)])
    return emulate_saccades(image, sensor_size, params=params, seed=rng)


def write_emulated(
    path: str | Path,
    source,
    indices: Sequence[int],
    *,
    sensor_size: tuple[int, int] = (34, 34),
    params: SaccadeParams | None = None,
    seed: int = 0,
    workers: int = 1,
    progress: bool = True,
    description: str = "",
) -> Path:
    """Emulate ``source`` images at ``indices`` into an ``event-dataset`` file at ``path``.

    Image ``i`` always uses the generator seeded with ``(seed, i)``, so the file is the same
    for any number of ``workers``. The file appears only when complete (written to a
    temporary name, renamed into place).
    """
    params = params or SaccadeParams()
    indices = [int(i) for i in indices]
    jobs = ((source.image(i), sensor_size, params, seed, i) for i in indices)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with EventDatasetWriter(
        path, (*sensor_size, 2), source.classes, source=description or "saccade emulator"
    ) as writer:
        if workers > 1:
            from multiprocessing import get_context

            pool = get_context("spawn").Pool(workers)
            streams = pool.imap(_emulate_one, jobs, chunksize=8)
        else:
            pool = None
            streams = map(_emulate_one, jobs)
        if progress:
            from tqdm import tqdm

            streams = tqdm(streams, total=len(indices), desc=f"emulating {path.name}", unit="img")
        try:
            for i, events in zip(indices, streams, strict=True):
                writer.append(events, label=int(source.labels[i]), name=source.names[i])
        finally:
            if pool is not None:
                pool.terminate()
    return path


def emulated_dataset(
    source,
    indices: Sequence[int],
    *,
    source_id: str,
    sensor_size: tuple[int, int] = (34, 34),
    params: SaccadeParams | None = None,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    workers: int = 1,
    progress: bool = True,
) -> EventDataset:
    """The emulated events of ``source[indices]``, built on first use and cached."""
    params = params or SaccadeParams()
    names = [source.names[i] for i in indices]
    key = emulation_fingerprint(source_id, names, sensor_size, params, seed)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = folder / "emulated" / f"{source_id}-{key}.h5"
    if not path.exists():
        write_emulated(
            path,
            source,
            indices,
            sensor_size=sensor_size,
            params=params,
            seed=seed,
            workers=workers,
            progress=progress,
            description=f"saccade emulator over {source_id}, fingerprint {key}",
        )
    return EventDataset(path)


def _emulate_frames(job: tuple) -> np.ndarray:
    plane, sensor_size, params, seed, index, framing = job
    rng = np.random.default_rng([int(seed), 7919, int(index)])
    return framing(emulate_saccades(plane, sensor_size, params=params, seed=rng))


def emulated_static_frames(
    planes: np.ndarray,
    time_steps: int,
    *,
    params: SaccadeParams | None = None,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    workers: int = 1,
    progress: bool = True,
) -> np.ndarray:
    """Static images as event-like training inputs: each plane ``[N, H, W]`` (values in
    [0, 1], placed as the recordings show the image) through the saccade emulator on an
    ``W x H`` sensor and framed into ``time_steps`` equal time bins: float32
    ``[N, T, 2, H, W]`` event counts.

    Built once and kept under the cache folder as ``.npy`` (written atomically), found again by a fingerprint of the planes, the parameters, T and the seed, and
    memory-mapped, so processes share one copy. Plane ``i`` uses the generator seeded with
    ``(seed, 7919, i)``.
    """
    params = params or SaccadeParams()
    planes = np.ascontiguousarray(planes, dtype=np.float32)
    n, height, width = planes.shape
    payload = {
        "planes": hashlib.sha256(planes.tobytes()).hexdigest(),
        "shape": list(planes.shape),
        "params": params.fingerprint(),
        "time_steps": int(time_steps),
        "seed": int(seed),
    }
    key = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = folder / "emulated-static" / f"static-{key}.npy"
    shape = (n, int(time_steps), 2, height, width)
    if path.is_file():
        frames = np.load(path, mmap_mode="r")
        if frames.shape == shape and frames.dtype == np.float32:
            return frames
    framing = ToFrame(sensor_size=(width, height, 2), n_time_bins=int(time_steps))
    jobs = ((planes[i], (width, height), params, seed, i, framing) for i in range(n))
    if workers > 1:
        from multiprocessing import get_context

        pool = get_context("spawn").Pool(workers)
        results = pool.imap(_emulate_frames, jobs, chunksize=16)
    else:
        pool = None
        results = map(_emulate_frames, jobs)
    if progress:
        from tqdm import tqdm

        results = tqdm(results, total=n, desc="emulating static images", unit="img")
    frames = np.empty(shape, np.float32)
    try:
        for i, framed in enumerate(results):
            frames[i] = framed
    finally:
        if pool is not None:
            pool.terminate()
    save_array(path, frames)
    return np.load(path, mmap_mode="r")
