"""PairedData.preload: every split served from frames computed once, equal to framing on
access, shared through a memory-mapped .npy file; a stale file is refused."""

from __future__ import annotations

import numpy as np
import pytest

from snn_transfer.errors import DatasetError
from snn_transfer.events.datasets import FramesArray, load_dataset


def _load(tmp_path, time_steps=3):
    return load_dataset(
        "digits", per_class=10, time_steps=time_steps, cache_dir=tmp_path, progress=False
    )


def test_preloaded_splits_equal_framing_on_access(tmp_path):
    data = _load(tmp_path)
    expected = {
        name: [split[i] for i in range(len(split))]
        for name, split in (("train", data.train), ("val", data.val), ("test", data.test))
    }
    path = tmp_path / "frames" / "digits.npy"
    data.preload(path)
    assert path.is_file() and not list(path.parent.glob("*.partial"))
    for name, split in (("train", data.train), ("val", data.val), ("test", data.test)):
        assert isinstance(split.events, FramesArray)
        assert len(split) == len(expected[name])
        for i, (frames, label) in enumerate(expected[name]):
            got, got_label = split[i]
            assert got.dtype == np.float32 and got_label == label
            assert np.array_equal(got, frames)
    assert sum(float(split[0][0].sum()) for split in (data.train, data.val)) > 0

    # a second process maps the same file instead of framing again
    again = _load(tmp_path)
    again.preload(path)
    assert isinstance(again.train.events.frames, np.memmap)
    assert np.array_equal(again.test[1][0], expected["test"][1][0])
    again.preload(path)  # idempotent


def test_preload_refuses_frames_of_another_shape(tmp_path):
    path = tmp_path / "frames.npy"
    _load(tmp_path, time_steps=3).preload(path)
    with pytest.raises(DatasetError, match="frames.npy.*delete the file"):
        _load(tmp_path, time_steps=2).preload(path)
