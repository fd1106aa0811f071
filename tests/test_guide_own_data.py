"""docs/bring-your-own-data.md: its Python blocks run in order, as written, on fake data in
the folders the page names (an N-MNIST tree in Tonic's layout under ``data/``, a folder of
AEDAT 4 recordings per class under ``my_recordings/``), and its recipe block loads."""

from __future__ import annotations

import re
import socket

import numpy as np
import torch
import yaml
from conftest import REPO
from test_recorded_fakes import write_folder_dataset, write_nmnist

from snn_transfer.run_config import TransferConfig, build_dataset

PAGE = (REPO / "docs" / "bring-your-own-data.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", PAGE, re.S)


def test_the_page_is_short_and_its_code_runs(tmp_path, monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("SNN_TRANSFER_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    write_nmnist(tmp_path / "data", rng)
    write_folder_dataset(tmp_path / "my_recordings", rng, per_class=12)
    assert len(PAGE.splitlines()) < 150
    code = blocks("python")
    assert len(code) == 4
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    namespace: dict = {"__name__": "guide"}
    try:
        for block in code:
            exec(compile(block, "bring-your-own-data.md", "exec"), namespace)
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out.splitlines()
    printed = [line for line in out if not line.startswith(("epoch ", "best "))]
    assert printed[0] == "0 - zero (4, 2, 34, 34) float32"
    assert printed[1] == "20 10 10"
    assert printed[2].startswith("test accuracy ")
    assert printed[3] == "('a', 'b') (4, 2, 32, 32) (128, 128, 2)"
    assert printed[4] == "14 4 2 by index (the dataset lists no file per sample)"
    assert (tmp_path / "runs" / "nmnist" / "best.pt").exists()
    assert (tmp_path / "runs" / "mine" / "best.pt").exists()
    # the recipe block is the first block's dataset
    (recipe,) = blocks("yaml")
    config = TransferConfig.from_dict({"time_steps": 4, **yaml.safe_load(recipe)})
    data = build_dataset(config, progress=False)
    assert len(data.train) == 20 and data.train.names[0] == "Train/0/00001.bin"
    assert data.name == "tonic-NMNIST" and data.frame_shape == (4, 2, 34, 34)
