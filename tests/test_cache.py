"""The HDF5 frame cache: round trip, dtypes, compression, fingerprint refusal, lazy reads."""

from __future__ import annotations

import pickle

import h5py
import numpy as np
import pytest
from test_recorded_fakes import write_folder_dataset

from snn_transfer.errors import ConfigError, EventFormatError
from snn_transfer.events.cache import CacheMismatchError, CacheSpec, FrameCache, cache_path
from snn_transfer.events.cache_build import build_cache
from snn_transfer.events.framing import FramePipeline, ToFrame
from snn_transfer.events.recorded.files import FramedFiles
from snn_transfer.events.recorded.folder import folder_samples
from snn_transfer.events.transforms import Resize


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = write_folder_dataset(
        tmp_path_factory.mktemp("rec"), np.random.default_rng(8), per_class=5
    )
    return folder_samples(root).split("train")


def pipeline(steps=3, size=(16, 16)):
    framing = ToFrame((128, 128, 2), n_time_bins=steps)
    return FramePipeline(framing, (Resize(size, antialias=True),) if size else ())


def build(path, files, pipe, dtype="float32", **options):
    spec = CacheSpec("folder", "train", files.digest(), len(files), pipe, dtype)
    options.setdefault("progress", False)
    report = build_cache(path, FramedFiles(files, pipe), spec, classes=files.classes, **options)
    return spec, report


def test_round_trip_equals_framing_on_the_fly(tmp_path, files):
    pipe = pipeline()
    spec, report = build(tmp_path / "c.h5", files, pipe, sensor_size=(128, 128, 2), shard_size=3)
    cache = FrameCache(tmp_path / "c.h5", expect=spec)
    assert len(cache) == report.samples == len(files) == 8 and cache.frame_shape == (3, 2, 16, 16)
    on_the_fly = FramedFiles(files, pipe)
    for i in range(len(cache)):
        frames, label = cache[i]
        assert frames.dtype == np.float32 and frames.flags.writeable
        assert np.array_equal(frames, on_the_fly[i][0]) and label == files.labels[i]
    assert cache.names == tuple(files.names) and cache.classes == ("a", "b")
    assert cache.event_counts.tolist() == [200] * 8 and (cache.durations_us > 0).all()
    with h5py.File(tmp_path / "c.h5") as file:
        assert file["frames"].chunks == (1, 3, 2, 16, 16) and file["frames"].compression is None
        attrs = file.attrs
        assert attrs["fingerprint"].decode() == spec.fingerprint() == cache.fingerprint
        assert attrs["version"].decode() == "0.1.0" and attrs["created"].decode().startswith("20")
        assert attrs["kind"].decode() == "frames" and bool(attrs["complete"])
    assert cache.spec["pipeline"]["fields"]["framing"]["fields"]["n_time_bins"] == 3
    assert not (tmp_path / "c.h5.shards").exists() and not list(tmp_path.glob("*.partial"))
    clone = pickle.loads(pickle.dumps(cache))  # DataLoader workers reopen lazily
    assert np.array_equal(clone[5][0], cache[5][0])
    again = build(tmp_path / "c.h5", files, pipe)[1]
    assert again.existed and again.samples == 8


@pytest.mark.parametrize("compression", ["lzf", "gzip"])
def test_compression_keeps_values_and_key(tmp_path, files, compression):
    pipe = pipeline()
    spec, _ = build(tmp_path / "z.h5", files, pipe, compression=compression)
    plain, _ = build(tmp_path / "p.h5", files, pipe)
    assert spec.fingerprint() == plain.fingerprint()
    a, b = FrameCache(tmp_path / "z.h5", spec), FrameCache(tmp_path / "p.h5", spec)
    assert a.compression == compression and all(np.array_equal(a[i][0], b[i][0]) for i in range(8))


def test_dtypes_float16_and_uint16_counts_only(tmp_path, files):
    counts = pipeline(size=None)
    spec, _ = build(tmp_path / "u.h5", files, counts, dtype="uint16")
    cache = FrameCache(tmp_path / "u.h5", spec)
    assert cache.dtype == "uint16" and np.array_equal(cache[0][0], FramedFiles(files, counts)[0][0])
    assert cache[0][0].dtype == np.float32 and cache[0][0].sum() == 200
    half, _ = build(tmp_path / "h.h5", files, pipeline(), dtype="float16")
    exact = FramedFiles(files, pipeline())[1][0]
    assert np.allclose(FrameCache(tmp_path / "h.h5", half)[1][0], exact, rtol=1e-3, atol=1e-4)
    with pytest.raises(ConfigError, match="uint16 stores raw integer event counts.*fractions"):
        build(tmp_path / "bad.h5", files, pipeline(), dtype="uint16")
    with pytest.raises(ConfigError, match="cache dtype must be one of"):
        CacheSpec("x", "train", "0", 1, counts, "int8")


def test_mismatching_spec_is_refused_naming_the_fields(tmp_path, files):
    spec, _ = build(tmp_path / "c.h5", files, pipeline(steps=3))
    other = CacheSpec("folder", "train", files.digest(), len(files), pipeline(steps=4), "float32")
    with pytest.raises(CacheMismatchError) as error:
        FrameCache(tmp_path / "c.h5", expect=other)
    message = str(error.value)
    assert "pipeline.framing.n_time_bins: cached 3, requested 4" in message
    assert "c.h5" in message and "Delete the file" in message
    with pytest.raises(CacheMismatchError, match="n_time_bins: cached 3, requested 4"):
        build(tmp_path / "c.h5", files, pipeline(steps=4))
    fewer = files.subset(range(7))
    with pytest.raises(CacheMismatchError, match="samples: cached 8, requested 7"):
        build(tmp_path / "c.h5", fewer, pipeline(steps=3))
    assert cache_path("/x", spec).name == f"folder-train-{spec.fingerprint()}.h5"


def test_incomplete_or_foreign_files_never_open(tmp_path):
    with h5py.File(tmp_path / "half.h5", "w") as file:
        file.attrs["kind"] = b"frames"
        file.create_dataset("frames", data=np.zeros((1, 1, 2, 2, 2)))
    with pytest.raises(EventFormatError, match="incomplete"):
        FrameCache(tmp_path / "half.h5")
    with h5py.File(tmp_path / "other.h5", "w") as file:
        file.attrs["kind"] = b"events"
    with pytest.raises(EventFormatError, match="not a frame cache"):
        FrameCache(tmp_path / "other.h5")


def test_dataloader_workers_read_the_cache_through_the_registry(tmp_path):
    import torch

    from snn_transfer.events.datasets import load_dataset

    root = write_folder_dataset(tmp_path / "rec", np.random.default_rng(9), per_class=6)
    options = dict(root=root, size=16, time_steps=2, cache_dir=tmp_path / "cache", progress=False)
    data = load_dataset("folder", **options)
    caches = sorted((tmp_path / "cache" / "frames").glob("*.h5"))
    assert [c.name.split("-")[1] for c in caches] == ["test", "train"]
    direct = np.stack([data.train[i][0] for i in range(len(data.train))])
    loader = torch.utils.data.DataLoader(data.train, batch_size=4, num_workers=2)
    batches = torch.cat([frames for frames, _ in loader]).numpy()
    assert np.array_equal(batches, direct)  # augmentation seeded by (seed, epoch, index)
    stamp = [c.stat().st_mtime_ns for c in caches]
    again = load_dataset("folder", **options)  # found by fingerprint, not rebuilt
    assert [c.stat().st_mtime_ns for c in caches] == stamp
    assert np.array_equal(again.test[0][0], data.test[0][0])
    raw = load_dataset("folder", cache=False, augment=(), **options)
    assert np.allclose(raw.test[1][0], data.test[1][0], atol=0)


@pytest.mark.parametrize("compression", ["none", "lzf"])
def test_merge_in_blocks_across_shards_equals_framing_on_the_fly(
    tmp_path, files, compression, monkeypatch
):
    # uncompressed: each sample's bytes are written as its chunk; lzf: through h5py's slicing
    from snn_transfer.events import cache_merge

    monkeypatch.setattr(cache_merge, "MERGE_BLOCK", 2)  # blocks of 2 in shards of 3
    pipe = pipeline(size=None)
    spec, _ = build(tmp_path / "c.h5", files, pipe, shard_size=3, compression=compression)
    cache = FrameCache(tmp_path / "c.h5", expect=spec)
    on_the_fly = FramedFiles(files, pipe)
    stacked = np.stack([on_the_fly[i][0] for i in range(len(files))])
    assert np.array_equal(np.stack([cache[i][0] for i in range(len(cache))]), stacked)
    with h5py.File(tmp_path / "c.h5") as file:
        assert file["frames"].chunks == (1, 3, 2, 128, 128)
        assert file["frames"].compression == (None if compression == "none" else "lzf")
        assert np.array_equal(file["frames"][:], stacked)
