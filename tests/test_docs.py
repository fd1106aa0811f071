"""The guides run as written: ``docs/bring-your-own-network.md``'s Python blocks in order (a
block whose first line is ``# file: NAME`` is written to that file instead), then its shell
commands, in a fresh folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib

from conftest import REPO

GUIDE = REPO / "docs" / "bring-your-own-network.md"


def blocks(text: str) -> list[tuple[str, str]]:
    return re.findall(r"```(\w+)\n(.*?)```", text, re.S)


def test_bring_your_own_network_runs_as_written(tmp_path):
    from snn_transfer.events.datasets import load_dataset
    from snn_transfer.events.io import write_events
    from snn_transfer.models import ENTRY_POINT_GROUP

    found = blocks(GUIDE.read_text())
    script, shell = [], []
    for language, code in found:
        if language == "python" and code.startswith("# file: "):
            name = code.splitlines()[0].removeprefix("# file: ").strip()
            (tmp_path / name).write_text(code)
        elif language == "python":
            script.append(code)
        elif language == "bash":
            shell.append(code)
        elif language == "toml":
            entry_points = tomllib.loads(code)["project"]["entry-points"]
            assert list(entry_points) == [ENTRY_POINT_GROUP]
    assert len(script) == 2 and len(shell) == 1 and (tmp_path / "my_nets.py").exists()
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "SNN_TRANSFER_CACHE": str(tmp_path / "cache"),
        "PYTHONPATH": "",
    }
    code = "import torch; torch.set_num_threads(1)\n" + "\n".join(script)
    ran = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.strip().splitlines()
    assert lines[0] == "torch.Size([4, 3, 10]) torch.Size([4, 3, 64])"
    assert lines[-1].startswith("1 ") and (tmp_path / "runs" / "own-network" / "best.pt").exists()
    # the recording the shell block predicts
    data = load_dataset("digits", per_class=10, time_steps=4, cache_dir=tmp_path / "cache")
    events, _ = data.test.events[int(data.test.indices[0])]
    write_events(tmp_path / "recording.h5", events, "hdf5", sensor_size=(34, 34, 2))
    commands = shell[0].replace("snn-transfer ", f"{sys.executable} -m snn_transfer ")
    ran = subprocess.run(
        ["bash", "-e", "-c", commands], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert "my-net" in ran.stdout and "width=8" in ran.stdout  # snn-transfer models
    assert "recording.h5" in ran.stdout and "accuracy" in ran.stdout
    assert (tmp_path / "runs" / "my-net.nir").stat().st_size > 0
