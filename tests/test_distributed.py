"""Two processes (torchrun, gloo, CPU) train like one process on the same global batch.

The test functions launch this file under ``torch.distributed.run`` with a job description;
run as a script, the file is the worker: it trains a ``Trainer`` and saves what each rank saw.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from snn_transfer import distributed
from snn_transfer.config_loader import set_dotted
from snn_transfer.errors import ConfigError
from snn_transfer.run_config import TransferConfig
from snn_transfer.trainer import Trainer

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]


def config_dict(cache: Path, **overrides) -> dict:
    data = {
        "epochs": 2,
        "time_steps": 2,
        "seed": 11,
        "device": "cpu",
        "threads": 1,
        "model": {"options": {"bn": False}},
        "data": {
            "options": {"per_class": 10, "cache_dir": str(cache), "progress": False},
            "batch_size": 8,
            "sampler": "balanced",
        },
        "optim": {"warmup_epochs": 0, "base_lr": 0.05},
    }
    for key, value in overrides.items():
        set_dotted(data, key, value)
    return data


def torchrun(job: dict, tmp_path: Path, *args: str, timeout: int = 300):
    """Run this file (or ``args``) on two processes; fail with both ranks' output."""
    path = tmp_path / "job.json"
    path.write_text(json.dumps(job))
    command = args or (__file__, str(path))
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
        + list(command),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return result


def grads(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {
        name: p.grad.detach().clone()
        for name, p in trainer.module.named_parameters()
        if p.grad is not None
    }


def weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in trainer.module.state_dict().items()}


def assert_close(a: dict, b: dict, what: str, rtol=1e-4, atol=1e-6) -> None:
    assert a.keys() == b.keys(), what
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=rtol, atol=atol, msg=f"{what} {name}")


# --- the worker ----------------------------------------------------------------------------


def _equality_job(job: dict) -> dict:
    """Train to each stop in ``job["stops"]``; record the gradients of the last step, the
    weights and the history at each stop."""
    config = TransferConfig.from_dict(job["config"])
    trainer = Trainer(config, job.get("out"), progress=False, quiet=True)
    record = {"world": trainer.dist.world, "stops": []}
    for stop in job["stops"]:
        trainer.fit(stop_after=stop)
        record["stops"].append(
            {"grads": grads(trainer), "weights": weights(trainer), "history": list(trainer.history)}
        )
    return record


def _modes_job(job: dict) -> dict:
    """Train each configuration (or record the ConfigError it is expected to raise)."""
    record = {}
    for name, expect in job["runs"].items():
        out = job["out"] + f"/{name}" if name == "bn" else None
        config = TransferConfig.from_dict(job["configs"][name])
        if expect == "error":
            try:
                Trainer(config, progress=False, quiet=True)
            except ConfigError as error:
                record[name] = str(error)
            continue
        trainer = Trainer(config, out, progress=False, quiet=True)
        trainer.fit()
        state = {k: v.clone() for k, v in trainer.model.state_dict().items()}
        record[name] = {"history": trainer.history, "state": state}
        del trainer
    return record


def _worker(path: str) -> None:
    job = json.loads(Path(path).read_text())
    context = distributed.setup("cpu")
    record = {"equality": _equality_job, "modes": _modes_job}[job["kind"]](job)
    torch.save(record, Path(path).parent / f"rank{context.rank}.pt")
    distributed.cleanup()


# --- the tests -----------------------------------------------------------------------------


def test_two_processes_equal_one_on_the_global_batch_and_resume_in_one(tmp_path):
    cache = tmp_path / "cache"
    data = config_dict(cache)  # 30 training samples, 3 iterations of 8 per epoch
    out = tmp_path / "two"
    # stop after the first step (same weights: compare gradients), then mid-epoch 2
    torchrun({"kind": "equality", "config": data, "out": str(out), "stops": [1, 4]}, tmp_path)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]

    single = Trainer(TransferConfig.from_dict(data), tmp_path / "one", progress=False, quiet=True)
    for i, stop in enumerate((1, 4)):
        single.fit(stop_after=stop)
        for r, record in enumerate(ranks):
            seen = record["stops"][i]
            assert_close(grads(single), seen["grads"], f"rank {r} gradient after step {stop}")
            assert_close(weights(single), seen["weights"], f"rank {r} weight after {stop}")
    # every trainable parameter got a gradient (the alignment reached the backbone and eta)
    assert set(grads(single)) == {n for n, p in single.module.named_parameters() if p.requires_grad}
    assert single.module.model.str_coefficients.grad.abs().min() > 0
    # the logged epoch (global-batch losses, sharded evaluation) is the single-process one
    (row,) = single.history
    (two_row,) = ranks[0]["stops"][1]["history"]
    assert two_row.keys() == row.keys() and two_row["loss_align"] > 0
    for key, value in row.items():
        if key != "seconds":
            assert two_row[key] == (value if key == "phase" else pytest.approx(value, 1e-4)), key

    # the two-process checkpoint (written by rank 0 alone) resumes in one process
    assert sorted(p.name for p in (out / "checkpoints").glob("*.pt")) == [
        "ckpt-000000003.pt",
        "ckpt-000000004.pt",
    ]
    resumed = Trainer.resume(out, progress=False, quiet=True)
    assert (resumed.iteration, resumed.epoch, resumed.position) == (4, 1, 8)
    assert resumed.dist.world == 1
    resumed.fit()
    single.fit()
    assert_close(weights(single), weights(resumed), "resumed weight")
    assert resumed.history[-1]["test_acc"] == single.history[-1]["test_acc"]


def test_modes_batchnorm_and_errors_on_two_processes(tmp_path):
    cache = tmp_path / "cache"
    short = {"epochs": 1}
    runs = {
        "bn": {**short, "model.options.bn": True},
        "baseline": {**short, "mode": "baseline"},
        "pretrain": {"mode": "pretrain-finetune", "pretrain_epochs": 1, "epochs": 1},
        "dann": {**short, "loss.alignment": "dann"},
        "local_mmd": {**short, "loss.alignment": "mmd", "distributed_alignment": "local"},
        "odd_batch": {"data.batch_size": 9},
    }
    configs = {name: config_dict(cache, **overrides) for name, overrides in runs.items()}
    job = {
        "kind": "modes",
        "out": str(tmp_path / "runs"),
        "configs": configs,
        "runs": {name: "error" if name == "odd_batch" else "train" for name in runs},
    }
    torchrun(job, tmp_path)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    for name in runs:
        if name == "odd_batch":
            assert all("data.batch_size = 9 is not a multiple of the 2" in r[name] for r in ranks)
            continue
        first, second = (r[name] for r in ranks)
        # DDP kept the replicas equal (BatchNorm running statistics averaged before evaluation)
        assert_close(first["state"], second["state"], name, rtol=0, atol=0)
        strip = [{k: v for k, v in row.items() if k != "seconds"} for row in first["history"]]
        assert strip == [
            {k: v for k, v in row.items() if k != "seconds"} for row in second["history"]
        ]
        assert len(first["history"]) == (2 if name == "pretrain" else 1), name
        assert all(np.isfinite(row["loss_total"]) for row in first["history"]), name
    assert [row["phase"] for row in ranks[0]["pretrain"]["history"]] == ["pretrain", "finetune"]
    assert "loss_align" in ranks[0]["local_mmd"]["history"][0]
    bn = ranks[0]["bn"]["state"]
    assert any(k.endswith("running_mean") for k in bn), "the BatchNorm run has no BatchNorm"
    # rank 0 alone wrote the run directory: one TensorBoard file, one metrics row per epoch
    run = tmp_path / "runs" / "bn"
    assert (run / "metrics.csv").read_text().count("\n") == 2
    assert len(list((run / "tensorboard").glob("events.*"))) <= 1
    assert not list(run.glob(".write-test*"))


def test_torchrun_cli_prints_once_and_writes_one_run(tmp_path):
    sets = [
        "epochs=1", "pretrain_epochs=1", "time_steps=2", "device=cpu", "model.options.bn=false",
        "data.options.per_class=10", "data.options.event_fraction=1.0", "data.batch_size=8",
        "data.epoch_samples=0", f"data.options.cache_dir={tmp_path / 'cache'}",
    ]  # fmt: skip
    args = ["-m", "snn_transfer", "train", "--recipe", "demo", "--out", str(tmp_path / "run")]
    args += [arg for value in sets for arg in ("--set", value)] + ["--no-progress"]
    result = torchrun({}, tmp_path, *args)
    # static pretraining then the transfer: DDP sees the static head and eta wait, then used
    assert result.stdout.count("selected epoch ") == 1, result.stdout
    epochs = [line.split()[2] for line in result.stdout.splitlines() if line.startswith("epoch ")]
    assert epochs == ["pretrain", "transfer"], result.stdout
    assert result.stdout.count("training demo (offline demo") == 1
    assert json.loads((tmp_path / "run" / "meta.json").read_text())["distributed"]["world"] == 2
    assert json.loads((tmp_path / "run" / "result.json").read_text())["iterations"] == 6


def test_neuron_state_is_not_a_buffer_and_sync_bn_needs_gpus():
    from snn_transfer.models import create_model

    model = create_model("tiny", 10, bn=False)
    model(torch.rand(2, 3, 2, 34, 34))
    assert list(model.buffers()) == []  # DDP broadcasts buffers: membrane potentials are not
    with_bn = create_model("tiny", 10)
    two = distributed.Context(rank=0, world=2)
    with pytest.raises(ConfigError, match="sync_bn = true needs GPUs"):
        distributed.prepare_model(with_bn, two, sync_bn=True)
    assert distributed.prepare_model(with_bn, two, sync_bn=False) is with_bn
    assert distributed.prepare_model(with_bn, distributed.Context(), sync_bn=True) is with_bn
    with pytest.raises(ConfigError, match="distributed_alignment = 'all'"):
        TransferConfig.from_dict({"distributed_alignment": "all"})
    with pytest.raises(ConfigError, match="device = 'cuda:1' with 2 processes"):
        distributed.resolve_device("cuda:1", 0, 2)
    assert two.local_batch(8) == 4
    with pytest.raises(ConfigError, match="data.batch_size = 9 is not a multiple of the 2"):
        two.local_batch(9)


def test_gather_batch_is_the_identity_in_one_process():
    x = torch.rand(2, 3, 4)
    assert distributed.gather_batch(x) is x and distributed.world_size() == 1
    assert distributed.is_main() and distributed.gather_objects(5) == [5]


if __name__ == "__main__":
    _worker(sys.argv[1])
