"""The transfer trainer: one loop for the method, the baseline and pretrain-finetune.

Every source of randomness in an epoch is derived from ``(seed, epoch)`` (sample order,
static partners, augmentation) or ``(seed, iteration)`` (sliding replacement), so a run that
is stopped and resumed from any checkpoint ends with exactly the weights of an uninterrupted
run (on the CPU, with deterministic kernels).

Under torchrun the same loop runs on every process (see ``snn_transfer.distributed``): the
configured batch is global and each rank trains on its share of it, inside
DistributedDataParallel; rank 0 alone writes the run directory. A checkpoint holds only
global positions, so it resumes with any number of processes.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from snn_transfer import distributed, trainer_state
from snn_transfer.checkpoint import (
    checkpoint_bytes,
    load_checkpoint,
    load_newest_intact,
    rotate,
    save_checkpoint,
)
from snn_transfer.epoch_log import (
    epoch_row,
    format_row,
    open_tensorboard,
    run_result,
    str_trading_warning,
    update_best,
    write_scalars,
)
from snn_transfer.errors import ConfigError
from snn_transfer.evaluate import evaluate_split, to_steps
from snn_transfer.losses import ALIGNMENTS
from snn_transfer.models.registry import check_model_options
from snn_transfer.optim import epoch_lr, make_optimizer, peak_lr, set_lr
from snn_transfer.run_config import TransferConfig, as_paired_data, check_data, resumed_config
from snn_transfer.rundir import start_run_dir, write_json, write_metrics_csv
from snn_transfer.sampler import EpochBatches, epoch_loader
from snn_transfer.sliding import slide, slide_mask
from snn_transfer.step import autocast, check_finite, iteration_values, training_step
from snn_transfer.training_module import (
    TrainingModule,
    build_domain_classifier,
    build_model,
    instance_config,
    model_source,
)


class Trainer:
    """Trains one configuration into a run directory (or in memory when ``out`` is None).

    Under torchrun every process builds its own ``Trainer``; ``self.dist`` says which rank
    it is. ``data``, when given, must be the same on every rank: a ``PairedData``
    (``load_dataset``), or a Tonic or other map-style dataset of ``(events, target)``,
    loaded through the registry's ``tonic`` entry (``run_config.as_paired_data``).
    ``model``, when given, is the network to train (an instance following
    ``snn_transfer.models.SpikingModel``, e.g. from ``wrap_spikingjelly``) instead of the
    registry's ``model.name``; the run then records ``model.name = "instance"`` and is loaded
    back with ``load_run(out, model=...)``. ``progress=False`` silences every progress bar
    (training, frame cache, emulation).
    """

    def __init__(
        self,
        config: TransferConfig,
        out: str | Path | None = None,
        *,
        data=None,
        model: nn.Module | None = None,
        progress: bool = True,
        quiet: bool = False,
    ) -> None:
        if model is not None:
            config = instance_config(config, model)
        self.config = config
        self.out = Path(out) if out is not None else None
        self.progress = progress
        self.quiet = quiet
        if config.threads:
            torch.set_num_threads(config.threads)
        self.dist = distributed.setup(config.device)
        self.device = self.dist.device
        self.dist.local_batch(config.data.batch_size)  # fails early unless it splits evenly
        if model is None:
            check_model_options(config.model.name, config.model.options)  # before data loads
        # the first rank builds the frame cache, the others open it read-only
        given = data
        self.data = data = distributed.in_rank_order(
            lambda: as_paired_data(config, given, progress=progress)
        )
        check_data(config, data)  # before the model is built
        torch.manual_seed(config.seed)
        model = build_model(config, len(data.classes), backbone=model)
        self.model = distributed.prepare_model(model, self.dist, sync_bn=config.sync_bn)
        self.model.to(self.device)
        domain = build_domain_classifier(config, self.model, data.train[0][0], self.device)
        self.module = TrainingModule(self.model, domain)
        # static pretraining before the transfer leaves the static head and eta unused
        waits = config.mode == "transfer" and config.pretrain_epochs > 0
        wrapped = distributed.wrap(self.module, self.dist, find_unused=waits)
        self.forward = torch.compile(wrapped) if config.compile else wrapped
        self.optimizer = make_optimizer(self.module, config.optim, config.data.batch_size)
        self.peak_lr = peak_lr(config.optim, config.data.batch_size)
        self.train_set = data.paired(seed=config.seed) if config.uses_static else None
        self.epoch_size = config.data.epoch_samples or len(data.train)
        self.iters_per_epoch = EpochBatches.batches_per_epoch(
            self.epoch_size, config.data.batch_size
        )
        self.epoch = 0
        self.position = 0
        self.iteration = 0
        self.history: list[dict[str, Any]] = []
        self.sums: dict[str, float] = {}
        self.best: dict[str, Any] = {"epoch": None, "score": -1.0}
        self.scaler = torch.amp.GradScaler("cuda", enabled=config.amp == "fp16")
        self.autocast = functools.partial(autocast, config.amp, self.device)
        # alignment (CKA, MMD, CORAL) on the features of the global batch, gathered from all
        # ranks with gradients, unless distributed_alignment is local
        gathered = config.distributed_alignment == "global" and config.loss.alignment in ALIGNMENTS
        self.gather = distributed.gather_batch if self.dist.distributed and gathered else None

    # --- checkpoints ------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """What a checkpoint holds (tensors and plain data, see ``trainer_state``)."""
        return trainer_state.capture(self)

    def load_state(self, state: dict[str, Any]) -> None:
        trainer_state.restore(self, state)

    def _save(self) -> None:
        if self.out is None or not self.dist.is_main:
            return
        folder = self.out / "checkpoints"
        save_checkpoint(folder / f"ckpt-{self.iteration:09d}.pt", self.state())
        rotate(folder, "ckpt-*.pt", self.config.keep_checkpoints)

    def required_space(self) -> int:
        """Bytes the run directory needs: ``keep_checkpoints`` checkpoints, ``best.pt`` and one
        being written (each estimated from the parameters, x3 for the AdamW moments)."""
        one = checkpoint_bytes([self.model, self.module.domain])
        return one * (self.config.keep_checkpoints + 2)

    @classmethod
    def resume(
        cls,
        run_dir: str | Path,
        *,
        fallback: bool = True,
        overrides: list[str] | tuple[str, ...] = (),
        **kwargs: Any,
    ) -> Trainer:
        """Continue the run in ``run_dir`` from its newest intact checkpoint (with any number
        of processes: every rank reads the same checkpoint).

        ``overrides`` (``key=value``) may change the keys of ``RESUMABLE_KEYS`` (``epochs``:
        train longer); any other is refused by name. A damaged newest checkpoint (truncated,
        bytes changed) is detected by its checksum; with ``fallback`` the run continues from
        the newest intact older one with a ``RuntimeWarning`` naming the damaged file, without
        it a ``CheckpointError`` names the damaged file and the previous good one.
        """
        from snn_transfer.config_loader import read_yaml

        run_dir = Path(run_dir)
        config = resumed_config(read_yaml(run_dir / "config.yaml"), overrides)
        trainer = cls(config, run_dir, **kwargs)
        checkpoints = sorted((run_dir / "checkpoints").glob("ckpt-*.pt"))
        if checkpoints:
            state, _ = load_newest_intact(checkpoints, fallback=fallback)
            trainer.load_state(state)
        if trainer.epoch > config.total_epochs:
            raise ConfigError(
                f"{run_dir} has trained {trainer.epoch} epochs already; epochs = "
                f"{config.epochs} (plus pretrain_epochs = {config.pretrain_epochs}) would end "
                "before that: set a larger epochs"
            )
        return trainer

    # --- one epoch ---------------------------------------------------------------------

    def _phase(self, epoch: int) -> str:
        if epoch < self.config.pretrain_epochs:
            return "pretrain"
        return "finetune" if self.config.mode == "pretrain-finetune" else self.config.mode

    def _loader(self, epoch: int):
        cfg = self.config
        return epoch_loader(
            self.data.train,
            self.train_set if self._phase(epoch) in ("transfer", "pretrain") else None,
            kind=cfg.data.sampler,
            seed=cfg.seed,
            epoch=epoch,
            batch_size=cfg.data.batch_size,
            size=self.epoch_size,
            position=self.position,
            rank=self.dist.rank,
            world=self.dist.world,
            workers=cfg.data.workers,
        )

    def _slide(self, static: torch.Tensor, event: torch.Tensor, slide_p: float):
        """Sliding replacement of this rank's static frames; the draws are made for the whole
        global batch and each rank keeps those of its slots, so any number of processes
        replaces the same frames as one. Returns the mixed batch and the mask ``[T, B]``."""
        g = torch.Generator().manual_seed(self.config.seed * 1_000_003 + self.iteration)
        mask = slide_mask(
            self.config.sliding.mix, slide_p, self.config.data.batch_size, static.shape[0], g
        )
        mask = mask[:, self.dist.rank :: self.dist.world].to(static.device)
        return slide(static, event, mask), mask

    def _step(self, batch, phase: str, slide_p: float) -> dict[str, float]:
        if phase in ("transfer", "pretrain"):
            event, static, labels = batch
            event, static = to_steps(event, self.device), to_steps(static, self.device)
        else:
            event, labels = batch
            event, static = to_steps(event, self.device), None
        labels = labels.to(self.device)
        if phase == "pretrain":
            event, static = static, None
        mask = None
        if static is not None:
            static, mask = self._slide(static, event, slide_p)
        logged: dict[str, float] = {}

        def inspect(loss: torch.Tensor, terms: dict[str, torch.Tensor], out: Any) -> None:
            # the global batch's values (the mean of the ranks' equal shares), checked for a
            # non-finite term before it reaches the weights
            values = iteration_values(loss, terms, out, labels, mask)
            averaged = distributed.mean_over_ranks(torch.stack(list(values.values())))
            logged.update(zip(values, averaged.tolist(), strict=True))
            check_finite(logged, terms, self.iteration, self.epoch, self.out)

        training_step(
            self.forward,
            self.optimizer,
            self.config.effective_loss,
            static,
            event,
            labels,
            scaler=self.scaler,
            autocast=self.autocast,
            gather=self.gather,
            inspect=inspect,
        )
        return logged

    def evaluate(self, split) -> dict[str, Any]:
        """Event branch only, logits averaged over T: accuracy, predictions and per-layer
        firing rates. With several processes this is collective (call it on every rank):
        each rank evaluates a share of ``split`` and all return the whole result; BatchNorm
        running statistics are first averaged over the ranks (what the checkpoint holds)."""
        distributed.average_buffers(self.model)
        return evaluate_split(
            self.model,
            split,
            batch_size=self.config.data.eval_batch_size,
            workers=self.config.data.workers,
            device=self.device,
            autocast=self.autocast,
        )

    def fit(self, *, stop_after: int | None = None) -> dict[str, Any]:
        """Train until ``total_epochs`` and return the result (also in ``result.json``).

        ``stop_after`` stops (with a checkpoint) once that many iterations are done in
        total, as an interruption would; ``Trainer.resume`` continues from there.
        """
        cfg = self.config
        main = self.dist.is_main
        if self.out is not None and main:
            extra = {
                "dataset": {"name": self.data.name, **self.data.info},
                "model": model_source(cfg, self.model.backbone),
            }
            if self.dist.distributed:
                extra["distributed"] = {"world": self.dist.world}
            start_run_dir(self.out, cfg, self.required_space(), str(self.device), extra)
        writer = open_tensorboard(self.out) if main else None
        total_epochs = cfg.total_epochs
        try:
            while self.epoch < total_epochs:
                epoch, phase = self.epoch, self._phase(self.epoch)
                if phase == "transfer" and epoch == cfg.pretrain_epochs > 0 and not self.position:
                    # static pretraining went through the event head: the static head
                    # starts the transfer from it too (done before this epoch's checkpoints)
                    self.model.copy_event_head_to_static()
                lr = epoch_lr(cfg.optim, self.peak_lr, epoch, total_epochs)
                set_lr(self.optimizer, lr)
                started = time.time()
                batches = self._loader(epoch)
                if self.progress and main:
                    from tqdm import tqdm

                    batches = tqdm(
                        batches, desc=f"epoch {epoch + 1}/{total_epochs} {phase}", leave=False
                    )
                # the epoch row reports the last batch's probability, also when a resume lands
                # after the epoch's last batch (no batch is left to run)
                slide_p = (
                    cfg.sliding.probability(self.iteration - 1, self.iters_per_epoch, total_epochs)
                    if self.position > 0
                    else 0.0
                )
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
                    every = cfg.checkpoint_every
                    if stop or (every and self.iteration % every == 0):
                        self._save()
                    if stop:
                        return self.result()
                sums, self.sums = self.sums, {}
                self.epoch, self.position = epoch + 1, 0
                self._end_epoch(epoch, phase, lr, slide_p, sums, time.time() - started, writer)
        finally:
            if writer is not None:
                writer.close()
        return self.result()

    def _end_epoch(self, epoch, phase, lr, slide_p, sums, seconds, writer) -> None:
        cfg = self.config
        val = self.evaluate(self.data.val)
        last = epoch + 1 == cfg.total_epochs
        # without test_every_epoch, test runs once at the end: on the last weights and on
        # the best ones (kept when validation improves), which give the same number as a
        # test pass at the best epoch
        deferred = not cfg.test_every_epoch and cfg.selection == "val"
        test = self.evaluate(self.data.test) if not deferred or last else {}
        eta = self.model.str_coefficients
        row = epoch_row(epoch, phase, lr, slide_p, sums, val, test, seconds, eta)
        self.history.append(row)
        improved = update_best(self.best, row, cfg.selection)
        if improved and deferred:
            self._best_weights = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        if last and deferred and self.best["epoch"] not in (None, row["epoch"]):
            self._test_best_weights()
        if not self.dist.is_main:
            return
        warning = str_trading_warning(self.history)
        write_scalars(writer, row)
        if not self.quiet:
            print(format_row(row, cfg.total_epochs), flush=True)
            if warning:
                print(warning, flush=True)
        if self.out is not None:
            write_metrics_csv(self.out / "metrics.csv", self.history)
            state = self.state()
            if improved:
                state["result"] = self.result()
                save_checkpoint(self.out / "best.pt", state)
            elif last and deferred and self.best["epoch"] is not None:
                # best.pt was written before its test accuracy was known
                best = load_checkpoint(self.out / "best.pt")
                best["result"] = self.result()
                best["history"] = self.history
                save_checkpoint(self.out / "best.pt", best)
            self._save()
            write_json(self.out / "result.json", self.result())

    def _test_best_weights(self) -> None:
        """Evaluate test with the best epoch's weights (then restore the last ones) and
        record it for that epoch."""
        weights = getattr(self, "_best_weights", None)
        if weights is None:  # resumed after the best epoch: best.pt holds its weights
            weights = load_checkpoint(self.out / "best.pt")["model"]
        current = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.model.load_state_dict(weights)
        try:
            accuracy = self.evaluate(self.data.test)["acc"]
        finally:
            self.model.load_state_dict(current)
        self.best["test_acc"] = accuracy
        self.history[self.best["epoch"] - 1]["test_acc"] = accuracy

    def result(self) -> dict[str, Any]:
        return run_result(self.config, self.best, self.history, self.epoch, self.iteration)
