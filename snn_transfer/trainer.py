"""The transfer trainer: one loop for the method, the baseline and pretrain-finetune.

Every source of randomness in an epoch is derived from ``(seed, epoch)`` (sample order,
static partners, augmentation) or ``(seed, iteration)`` (sliding replacement), so a run that
is stopped and resumed from any checkpoint ends with exactly the weights of an uninterrupted
run (on the CPU, with deterministic kernels).
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from snn_transfer.checkpoint import load_checkpoint, rotate, save_checkpoint
from snn_transfer.config import to_dict
from snn_transfer.errors import ConfigError, DatasetError, SnnTransferError
from snn_transfer.losses import LossConfig, domain_adversarial_loss, transfer_objective
from snn_transfer.optim import epoch_lr, make_optimizer, peak_lr, set_lr
from snn_transfer.rundir import run_metadata, write_config, write_json, write_metrics_csv
from snn_transfer.sampler import EpochBatches
from snn_transfer.settings import TransferConfig
from snn_transfer.sliding import replace_static


class TrainingDiverged(SnnTransferError):
    """A loss term became NaN or infinite."""


def build_model(config: TransferConfig, num_classes: int) -> nn.Module:
    """The ``TransferModel`` a config describes (backbone from the model registry)."""
    from snn_transfer.models import TransferModel, create_model

    backbone = create_model(config.model.name, num_classes, **config.model.options)
    transfer = config.mode == "transfer"
    return TransferModel(
        backbone,
        config.time_steps,
        static_branch=transfer,
        use_str=transfer and config.loss.str_mode == "learned" and config.loss.alignment != "none",
        bn_running_stats=config.model.bn_running_stats,
    )


class TrainingModule(nn.Module):
    """What the optimizer (and DistributedDataParallel) sees: the transfer model plus, for
    ``dann``, the domain classifier, in one forward."""

    def __init__(self, model: nn.Module, domain: nn.Module | None) -> None:
        super().__init__()
        self.model = model
        self.domain = domain

    def forward(self, static, event):
        out = self.model(static, event)
        domain = None
        if self.domain is not None and out.static_features is not None:
            domain = domain_adversarial_loss(
                self.domain(out.static_features), self.domain(out.event_features)
            )
        return out, domain


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _to_steps(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``[B, T, P, H, W]`` from the DataLoader -> the model's ``[T, B, P, H, W]``."""
    return batch.to(device, non_blocking=True).transpose(0, 1).contiguous()


class _Keyed:
    """Baseline samples addressed by ``(index, draw)`` keys like the paired dataset."""

    def __init__(self, split) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, key):
        return self.split[key[0]]


class Trainer:
    """Trains one configuration into a run directory (or in memory when ``out`` is None)."""

    def __init__(
        self,
        config: TransferConfig,
        out: str | Path | None = None,
        *,
        data=None,
        progress: bool = True,
        quiet: bool = False,
    ) -> None:
        self.config = config
        self.out = Path(out) if out is not None else None
        self.progress = progress
        self.quiet = quiet
        if config.threads:
            torch.set_num_threads(config.threads)
        self.device = _device(config.device)
        if data is None:
            from snn_transfer.events.datasets import load_dataset

            data = load_dataset(
                config.data.dataset,
                time_steps=config.time_steps,
                seed=config.seed,
                **config.data.options,
            )
        self.data = data
        if data.frame_shape[0] != config.time_steps:
            raise ConfigError(
                f"dataset frames have T = {data.frame_shape[0]}, config time_steps = "
                f"{config.time_steps}; they must agree"
            )
        if config.uses_static and not data.has_static:
            raise DatasetError(data._no_static())
        if config.selection == "val" and len(data.val) == 0:
            raise ConfigError(
                "selection = 'val' but the dataset has no validation split; set "
                "selection=test (the paper's parity setting) or give the dataset a val_fraction"
            )
        torch.manual_seed(config.seed)
        self.model = build_model(config, len(data.classes)).to(self.device)
        domain = None
        if config.mode == "transfer" and config.loss.alignment == "dann":
            from snn_transfer.losses import DomainClassifier

            frames, _ = data.train[0]
            with torch.no_grad():
                _, feats = self.model.backbone(
                    torch.from_numpy(frames)[:, None].to(self.device), return_features=True
                )
            domain = DomainClassifier(feats.shape[-1]).to(self.device)
        self.module = TrainingModule(self.model, domain)
        self.forward = torch.compile(self.module) if config.compile else self.module
        self.optimizer = make_optimizer(self.module, config.optim, config.data.batch_size)
        self.peak_lr = peak_lr(config.optim, config.data.batch_size)
        self.train_set = data.paired(seed=config.seed) if config.uses_static else None
        self.epoch_size = config.data.epoch_samples or len(data.train)
        self.iters_per_epoch = EpochBatches.batches_per_epoch(
            self.epoch_size, config.data.batch_size
        )
        if self.iters_per_epoch == 0:
            raise ConfigError(
                f"data.batch_size = {config.data.batch_size} is larger than the training "
                f"split ({len(data.train)} samples); lower the batch size"
            )
        self.epoch = 0
        self.position = 0
        self.iteration = 0
        self.history: list[dict[str, Any]] = []
        self.sums: dict[str, float] = {}
        self.best: dict[str, Any] = {"epoch": None, "score": -1.0}
        self.scaler = torch.amp.GradScaler("cuda", enabled=config.amp == "fp16")

    # --- checkpoints ------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "config": to_dict(self.config),
            "classes": list(self.data.classes),
            "framing": getattr(self.data.train, "framing", None),
            "model": self.model.state_dict(),
            "domain": None if self.module.domain is None else self.module.domain.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "position": self.position,
            "iteration": self.iteration,
            "sampler": {"seed": self.config.seed, "epoch": self.epoch, "position": self.position},
            "history": self.history,
            "sums": self.sums,
            "best": self.best,
            "rng": {
                "torch": torch.get_rng_state(),
                "numpy": np.random.get_state(),
            },
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        if self.module.domain is not None and state.get("domain") is not None:
            self.module.domain.load_state_dict(state["domain"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.position = state["epoch"], state["position"]
        self.iteration = state["iteration"]
        self.history, self.best = state["history"], state["best"]
        self.sums = dict(state.get("sums", {}))
        torch.set_rng_state(state["rng"]["torch"])
        np.random.set_state(state["rng"]["numpy"])

    def _save(self) -> None:
        if self.out is None:
            return
        folder = self.out / "checkpoints"
        save_checkpoint(folder / f"ckpt-{self.iteration:09d}.pt", self.state())
        rotate(folder, "ckpt-*.pt", self.config.keep_checkpoints)

    @classmethod
    def resume(cls, run_dir: str | Path, **kwargs: Any) -> Trainer:
        """Continue the run in ``run_dir`` from its newest intact checkpoint."""
        from snn_transfer.config import read_yaml

        run_dir = Path(run_dir)
        config = TransferConfig.from_dict(read_yaml(run_dir / "config.yaml"))
        trainer = cls(config, run_dir, **kwargs)
        checkpoints = sorted((run_dir / "checkpoints").glob("ckpt-*.pt"))
        if checkpoints:
            trainer.load_state(load_checkpoint(checkpoints[-1], previous=checkpoints[:-1]))
        return trainer

    # --- one epoch ---------------------------------------------------------------------

    def _phase(self, epoch: int) -> str:
        if self.config.mode == "pretrain-finetune":
            return "pretrain" if epoch < self.config.pretrain_epochs else "finetune"
        return self.config.mode

    def _loader(self, epoch: int):
        cfg = self.config
        dataset = self.train_set if self._phase(epoch) in ("transfer", "pretrain") else None
        if dataset is None:
            dataset = _Keyed(self.data.train)
        else:
            dataset.set_epoch(epoch)
        self.data.train.set_epoch(epoch)
        batches = EpochBatches(
            self.data.train.labels,
            cfg.data.sampler,
            cfg.seed,
            epoch,
            cfg.data.batch_size,
            size=self.epoch_size,
            position=self.position,
        )
        return torch.utils.data.DataLoader(
            dataset, batch_sampler=batches, num_workers=cfg.data.workers
        )

    def _autocast(self):
        if self.config.amp == "none" or self.device.type != "cuda":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.config.amp == "bf16" else torch.float16
        return torch.autocast("cuda", dtype=dtype)

    def _loss_config(self) -> LossConfig:
        cfg = self.config
        if cfg.parity_no_sliding_drops_alignment and cfg.sliding.kind != "power":
            from dataclasses import replace

            # the reference keeps the STR weighting of the event loss but drops alignment
            return replace(cfg.loss, alpha=0.0)
        return cfg.loss

    def _step(self, batch, phase: str, slide_p: float) -> dict[str, float]:
        cfg = self.config
        if phase in ("transfer", "pretrain"):
            event, static, labels = batch
            event, static = _to_steps(event, self.device), _to_steps(static, self.device)
        else:
            event, labels = batch
            event, static = _to_steps(event, self.device), None
        labels = labels.to(self.device)
        if phase == "pretrain":
            event, static = static, None
        mask = None
        if static is not None:
            g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + self.iteration)
            static, mask = replace_static(static, event, slide_p, g)
        with self._autocast():
            out, domain = self.forward(static, event)
            loss, terms = transfer_objective(
                self._loss_config(),
                labels,
                out.event_logits.float(),
                None if out.static_logits is None else out.static_logits.float(),
                None if out.event_features is None else out.event_features.float(),
                None if out.static_features is None else out.static_features.float(),
                out.str_coefficients,
                domain,
            )
        for name, value in {"total": loss.detach(), **terms}.items():
            if not torch.isfinite(value):
                last = sorted((self.out / "checkpoints").glob("*.pt")) if self.out else []
                raise TrainingDiverged(
                    f"loss term {name!r} is {value.item()} at iteration {self.iteration} "
                    f"(epoch {self.epoch}); the last good checkpoint is "
                    f"{last[-1] if last else 'none (nothing saved yet)'}. Lower optim.base_lr "
                    "or check the input scale."
                )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        correct = (out.event_logits.detach().mean(0).argmax(-1) == labels).float().mean()
        result = {k: float(v) for k, v in terms.items()}
        result.update(total=float(loss.detach()), train_acc=float(correct))
        if mask is not None:
            result["replaced"] = float(mask.float().mean())
        return result

    @torch.no_grad()
    def evaluate(self, split) -> dict[str, Any]:
        """Event branch only, logits averaged over T: accuracy and per-layer firing rates."""
        if len(split) == 0:
            return {"acc": float("nan"), "n": 0}
        self.model.eval()
        rates: dict[str, list[float]] = {}
        hooks = []
        from spikingjelly.activation_based.neuron import BaseNode

        for name, module in self.model.named_modules():
            if isinstance(module, BaseNode):
                hooks.append(
                    module.register_forward_hook(
                        lambda m, i, o, n=name: rates.setdefault(n, []).append(float(o.mean()))
                    )
                )
        loader = torch.utils.data.DataLoader(
            split, batch_size=self.config.data.eval_batch_size, num_workers=self.config.data.workers
        )
        correct = total = 0
        predictions = []
        try:
            for frames, labels in loader:
                with self._autocast():
                    logits = self.model.classify(_to_steps(frames, self.device)).float().mean(0)
                pred = logits.argmax(-1).cpu()
                predictions.append(pred)
                correct += int((pred == labels).sum())
                total += len(labels)
        finally:
            for h in hooks:
                h.remove()
            self.model.train()
        return {
            "acc": correct / total,
            "n": total,
            "firing": {k: float(np.mean(v)) for k, v in rates.items()},
            "predictions": torch.cat(predictions).numpy(),
        }

    def fit(self, *, stop_after: int | None = None) -> dict[str, Any]:
        """Train until ``total_epochs`` and return the result (also in ``result.json``).

        ``stop_after`` stops (with a checkpoint) once that many iterations are done in
        total, as an interruption would; ``Trainer.resume`` continues from there.
        """
        cfg = self.config
        if self.out is not None:
            self.out.mkdir(parents=True, exist_ok=True)
            write_config(self.out / "config.yaml", cfg)
            write_json(
                self.out / "meta.json",
                run_metadata(
                    str(self.device), {"dataset": {"name": self.data.name, **self.data.info}}
                ),
            )
        writer = self._tensorboard()
        total_epochs = cfg.total_epochs
        while self.epoch < total_epochs:
            epoch, phase = self.epoch, self._phase(self.epoch)
            lr = epoch_lr(cfg.optim, self.peak_lr, epoch, total_epochs)
            set_lr(self.optimizer, lr)
            started = time.time()
            batches = self._loader(epoch)
            if self.progress:
                from tqdm import tqdm

                batches = tqdm(
                    batches, desc=f"epoch {epoch + 1}/{total_epochs} {phase}", leave=False
                )
            slide_p = 0.0
            for batch in batches:
                slide_p = cfg.sliding.probability(
                    self.iteration, self.iters_per_epoch, total_epochs
                )
                for k, v in self._step(batch, phase, slide_p).items():
                    self.sums[k] = self.sums.get(k, 0.0) + v
                self.sums["steps"] = self.sums.get("steps", 0) + 1
                self.iteration += 1
                self.position += cfg.data.batch_size
                stop = stop_after is not None and self.iteration >= stop_after
                if stop or (cfg.checkpoint_every and self.iteration % cfg.checkpoint_every == 0):
                    self._save()
                if stop:
                    if writer is not None:
                        writer.close()
                    return self.result()
            sums, self.sums = self.sums, {}
            self.epoch, self.position = epoch + 1, 0
            self._end_epoch(epoch, phase, lr, slide_p, sums, time.time() - started, writer)
        if writer is not None:
            writer.close()
        return self.result()

    def _tensorboard(self):
        if self.out is None:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is optional at run time
            return None
        return SummaryWriter(str(self.out / "tensorboard"))

    def _end_epoch(self, epoch, phase, lr, slide_p, sums, seconds, writer) -> None:
        steps = sums.pop("steps", 0)
        val = self.evaluate(self.data.val)
        test = self.evaluate(self.data.test)
        row: dict[str, Any] = {"epoch": epoch + 1, "phase": phase, "lr": lr, "slide_p": slide_p}
        row.update(
            {
                f"loss_{k}" if k not in ("train_acc", "replaced") else k: v / max(steps, 1)
                for k, v in sums.items()
            }
        )
        row.update(val_acc=val["acc"], test_acc=test["acc"], seconds=round(seconds, 2))
        eta = self.model.str_coefficients
        if eta is not None:
            row.update({f"sigma_{t}": float(s) for t, s in enumerate(torch.sigmoid(eta.detach()))})
        row.update(
            {f"firing_{k}": v for k, v in (val.get("firing") or test.get("firing") or {}).items()}
        )
        self.history.append(row)
        score = row["val_acc"] if self.config.selection == "val" else row["test_acc"]
        improved = not math.isnan(score) and score > self.best["score"]
        if improved:
            self.best = {
                "epoch": epoch + 1,
                "score": score,
                "val_acc": row["val_acc"],
                "test_acc": row["test_acc"],
            }
        if writer is not None:
            for key, value in row.items():
                if isinstance(value, int | float) and key != "epoch":
                    writer.add_scalar(key, value, epoch + 1)
        if not self.quiet:
            losses = " ".join(f"{k[5:]}={row[k]:.3f}" for k in row if k.startswith("loss_"))
            print(
                f"epoch {epoch + 1:>3}/{self.config.total_epochs} {phase:<8} {losses} "
                f"train={row.get('train_acc', 0):.3f} val={row['val_acc']:.3f} "
                f"test={row['test_acc']:.3f} lr={lr:.2e} P={slide_p:.3f} ({seconds:.1f}s)",
                flush=True,
            )
        if self.out is not None:
            write_metrics_csv(self.out / "metrics.csv", self.history)
            state = self.state()
            if improved:
                state["result"] = self.result()
                save_checkpoint(self.out / "best.pt", state)
            self._save()
            write_json(self.out / "result.json", self.result())

    def result(self) -> dict[str, Any]:
        selection = "validation" if self.config.selection == "val" else "test (paper parity)"
        last = self.history[-1] if self.history else {}
        return {
            "mode": self.config.mode,
            "selected_on": selection,
            "best_epoch": self.best["epoch"],
            "val_acc": self.best.get("val_acc"),
            "test_acc": self.best.get("test_acc"),
            "last_epoch": last.get("epoch"),
            "last_test_acc": last.get("test_acc"),
            "epochs_done": self.epoch,
            "iterations": self.iteration,
        }
