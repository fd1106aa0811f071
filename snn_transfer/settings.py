"""``TransferConfig``: everything a training run needs, as one typed, YAML-loadable value."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from snn_transfer.config import from_dict
from snn_transfer.errors import ConfigError
from snn_transfer.losses import LossConfig
from snn_transfer.optim import OptimConfig
from snn_transfer.sampler import SAMPLERS
from snn_transfer.sliding import SlidingSchedule

MODES = ("transfer", "baseline", "pretrain-finetune")
SELECTIONS = ("val", "test")
AMP = ("none", "bf16", "fp16")
DISTRIBUTED_ALIGNMENTS = ("global", "local")


@dataclass(frozen=True)
class DataConfig:
    """Which dataset and how it is batched. ``batch_size`` is the global batch (the one the
    learning-rate scaling uses); ``options`` go to ``load_dataset`` (for example ``root``,
    ``event_fraction``). ``epoch_samples`` draws that many samples per epoch (default: the
    size of the training split), so small labelled sets still get enough iterations."""

    dataset: str = "digits"
    options: dict = field(default_factory=dict)
    batch_size: int = 32
    eval_batch_size: int = 128
    sampler: str = "shuffle"
    workers: int = 0
    epoch_samples: int = 0

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.eval_batch_size < 1:
            raise ConfigError(f"data.batch_size = {self.batch_size} must be a positive integer")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"data.sampler = {self.sampler!r}; choose one of {SAMPLERS}")
        if self.epoch_samples < 0:
            raise ConfigError(f"data.epoch_samples = {self.epoch_samples} must be >= 0")
        if self.workers < 0:
            raise ConfigError(f"data.workers = {self.workers} must be >= 0")
        if "time_steps" in self.options:
            raise ConfigError(
                "set time_steps at the top level (time_steps=...), not in data.options"
            )


@dataclass(frozen=True)
class ModelConfig:
    """A registered model and its options (see ``snn_transfer.models.create_model``).

    ``bn_running_stats``: ``event`` (BatchNorm running statistics from the event branch
    only, what evaluation sees) or ``both`` (the reference: static and event batches).
    """

    name: str = "tiny"
    options: dict = field(default_factory=dict)
    bn_running_stats: str = "event"


@dataclass(frozen=True)
class TransferConfig:
    """A training run.

    ``mode``: ``transfer`` (the method), ``baseline`` (event data only) or
    ``pretrain-finetune`` (``pretrain_epochs`` on static images, then ``epochs`` on events).
    ``selection``: ``val`` picks the best epoch on the validation split and reports test for
    it; ``test`` is the paper's parity setting (best epoch on test), labelled as such.
    ``parity_no_sliding_drops_alignment`` reproduces the reference's "no sliding" ablation,
    which also drops the alignment loss.

    With several processes (torchrun): ``distributed_alignment`` ``global`` computes CKA, MMD
    or CORAL on the features of the whole global batch, gathered from all ranks with
    gradients (the single-process loss), ``local`` on each rank's share only (the reference's
    multi-GPU behaviour); ``sync_bn`` synchronises BatchNorm statistics over the ranks
    (SyncBatchNorm, GPUs only). Both are ignored in one process.
    """

    mode: str = "transfer"
    epochs: int = 10
    pretrain_epochs: int = 0
    time_steps: int = 8
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    sliding: SlidingSchedule = field(default_factory=SlidingSchedule)
    optim: OptimConfig = field(default_factory=OptimConfig)
    selection: str = "val"
    parity_no_sliding_drops_alignment: bool = False
    device: str = "auto"
    amp: str = "none"
    compile: bool = False
    threads: int = 0
    keep_checkpoints: int = 2
    checkpoint_every: int = 0
    distributed_alignment: str = "global"
    sync_bn: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"mode = {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.epochs < 1:
            raise ConfigError(f"epochs = {self.epochs} must be >= 1")
        if self.pretrain_epochs < 0:
            raise ConfigError(f"pretrain_epochs = {self.pretrain_epochs} must be >= 0")
        if self.time_steps < 1:
            raise ConfigError(f"time_steps = {self.time_steps} must be >= 1 (T = 0 is empty)")
        if self.selection not in SELECTIONS:
            raise ConfigError(f"selection = {self.selection!r}; choose one of {SELECTIONS}")
        if self.amp not in AMP:
            raise ConfigError(f"amp = {self.amp!r}; choose one of {AMP}")
        if self.keep_checkpoints < 1:
            raise ConfigError(f"keep_checkpoints = {self.keep_checkpoints} must be >= 1")
        if self.distributed_alignment not in DISTRIBUTED_ALIGNMENTS:
            raise ConfigError(
                f"distributed_alignment = {self.distributed_alignment!r}; choose one of "
                f"{DISTRIBUTED_ALIGNMENTS}"
            )
        if not isinstance(self.sync_bn, bool):
            raise ConfigError(f"sync_bn = {self.sync_bn!r} must be true or false")
        if self.mode == "pretrain-finetune" and self.pretrain_epochs == 0:
            raise ConfigError("mode = 'pretrain-finetune' needs pretrain_epochs >= 1")

    @property
    def total_epochs(self) -> int:
        return self.pretrain_epochs + self.epochs

    @property
    def uses_static(self) -> bool:
        return self.mode != "baseline"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TransferConfig:
        return from_dict(cls, data)
