"""``TransferConfig``: everything a training run needs, as one typed, YAML-loadable value.

Every value is checked when the config is built, before any data is loaded: an unknown key,
a wrong type or an impossible value raises ``ConfigError`` naming the dotted key
(``optim.base_lr``, ``data.options.event_fraction``) and the allowed range. Each section
checks itself (``DataConfig`` and ``ModelConfig`` here, ``LossConfig``, ``SlidingSchedule``
and ``OptimConfig`` next to the code that uses them); ``config_loader`` builds the sections
from plain data. What follows from several keys is a property computed here once
(``learns_str``, ``effective_loss``), and :func:`build_dataset` is the one way from a config
to its dataset (training, evaluation, export); :func:`as_paired_data` turns a dataset object
given to the trainer (a Tonic dataset) into one. ``check_dataset_size`` adds the one check
that needs the dataset (the batch must fit the training split); the trainer calls it as
soon as the dataset is loaded.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import Any

from snn_transfer.config_loader import apply_overrides, from_dict, merge, parse_override
from snn_transfer.errors import ConfigError, ConfigNote, DatasetError
from snn_transfer.events.checks import FRACTIONS, fraction
from snn_transfer.losses import LossConfig
from snn_transfer.optim import OptimConfig
from snn_transfer.sampler import SAMPLERS
from snn_transfer.sliding import SlidingSchedule

MODES = ("transfer", "baseline", "pretrain-finetune")
SELECTIONS = ("val", "test")
AMP = ("none", "bf16", "fp16")
DISTRIBUTED_ALIGNMENTS = ("global", "local")
BN_RUNNING_STATS = ("event", "both")  # as snn_transfer.models.transfer, without torch models
HEAD_MODES = ("separate", "shared")  # as snn_transfer.models.transfer


def _int_at_least(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _check(ok: bool, key: str, value: Any, allowed: str) -> None:
    """Raise ``ConfigError`` "<key> = <value> must be <allowed>" unless ``ok``."""
    if not ok:
        raise ConfigError(f"{key} = {value!r} must be {allowed}")


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
        for key in ("batch_size", "eval_batch_size"):
            value = getattr(self, key)
            _check(_int_at_least(value, 1), f"data.{key}", value, "an integer >= 1")
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
        for key in FRACTIONS:  # the options every dataset that takes them reads alike
            if key in self.options:
                fraction(key, self.options[key], prefix="data.options.")


@dataclass(frozen=True)
class ModelConfig:
    """A registered model and its options (see ``snn_transfer.models.create_model``).

    ``bn_running_stats``: ``event`` (BatchNorm running statistics from the event branch
    only, what evaluation sees) or ``both`` (the reference: static and event batches).
    ``head``: ``separate`` (a static and an event classifier, the reference's VGG/ResNet) or
    ``shared`` (the event branch classifies with the static head).
    """

    name: str = "tiny"
    options: dict = field(default_factory=dict)
    bn_running_stats: str = "event"
    head: str = "separate"

    def __post_init__(self) -> None:
        if self.head not in HEAD_MODES:
            raise ConfigError(f"model.head = {self.head!r} must be one of {', '.join(HEAD_MODES)}")
        if self.bn_running_stats not in BN_RUNNING_STATS:
            raise ConfigError(
                f"model.bn_running_stats = {self.bn_running_stats!r} must be one of "
                f"{', '.join(BN_RUNNING_STATS)}"
            )


@dataclass(frozen=True)
class TransferConfig:
    """A training run.

    ``mode``: ``transfer`` (the method), ``baseline`` (event data only) or
    ``pretrain-finetune`` (``pretrain_epochs`` on static images, then ``epochs`` on events).
    ``pretrain_epochs`` with ``transfer``: static images through the event head first, then
    the transfer (the static head starts as a copy of the event head).
    ``test_every_epoch``: evaluate the test split after every epoch (curves in metrics.csv);
    False (with ``selection = 'val'``) evaluates it once at the end, with the last weights
    and with those of the epoch validation picked (kept when they are found): the reported
    test accuracy is the same, without a test pass per epoch.
    ``selection``: ``val`` picks the best epoch on the validation split and reports test for
    it; ``test`` is the paper's parity setting (best epoch on test), labelled as such.
    ``parity_no_sliding_drops_alignment`` reproduces the reference's "no sliding" ablation,
    which also drops the alignment loss.
    ``amp``: mixed precision of the forward (``none``, ``bf16``, ``fp16``): ``bf16`` autocasts
    on a GPU and on a CPU (convolutions in bfloat16; ``vggsnn`` and ``tiny`` keep BatchNorm
    statistics, neuron states and the alignment layer's potentials in float32), ``fp16`` on a
    GPU only (float32 on a CPU); the objective always runs in float32.
    ``model.options.compact`` (``vggsnn``, ``tiny``; default on): training runs the
    Conv-BatchNorm-LIF stack through ``snn_transfer.models.compact``, which keeps spikes as
    bits and recomputes BatchNorm and the neuron in the backward, with per-step BatchNorm as
    one call: the same outputs, gradients and running statistics as the layers' own forward
    (off), with about a quarter of its activation memory. Evaluation, forward hooks,
    SyncBatchNorm and our fused CUDA neuron run the layers themselves.

    With several processes (torchrun): ``distributed_alignment`` ``global`` computes CKA, MMD
    or CORAL on the features of the whole global batch, gathered from all ranks with
    gradients (the single-process loss), ``local`` on each rank's share only (the reference's
    multi-GPU behaviour); ``sync_bn`` synchronises BatchNorm statistics over the ranks
    (SyncBatchNorm, GPUs only). Both are ignored in one process.

    ``optim.warmup_epochs`` must leave at least one epoch after the warm-up: a warm-up as long
    as the run (or longer, a recipe's 5 warm-up epochs tried with ``epochs=1``) would train
    at ``optim.warmup_lr`` only and end near chance, so it is shortened to
    ``total_epochs - 1`` with a :class:`ConfigNote` warning saying so.
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
    test_every_epoch: bool = True

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
        if self.mode == "baseline" and self.pretrain_epochs:
            raise ConfigError(
                f"pretrain_epochs = {self.pretrain_epochs} pretrains on static images, which "
                "mode = 'baseline' (event data only) does not use; set pretrain_epochs=0 or "
                "mode=pretrain-finetune"
            )
        for key in ("seed", "threads", "checkpoint_every"):
            value = getattr(self, key)
            _check(_int_at_least(value, 0), key, value, "an integer >= 0")
        _check_device(self.device)
        if self.optim.warmup_epochs >= self.total_epochs:
            shorter = self.total_epochs - 1
            warnings.warn(
                f"optim.warmup_epochs = {self.optim.warmup_epochs} is not shorter than the run "
                f"({self.total_epochs} epoch{'s' if self.total_epochs > 1 else ''}), which "
                f"would train at optim.warmup_lr = "
                f"{self.optim.warmup_lr:g} and never leave the warm-up: shortened to "
                f"{shorter} (set optim.warmup_epochs to choose)",
                ConfigNote,
                stacklevel=4,
            )
            object.__setattr__(self, "optim", replace(self.optim, warmup_epochs=shorter))

    @property
    def total_epochs(self) -> int:
        return self.pretrain_epochs + self.epochs

    @property
    def uses_static(self) -> bool:
        return self.mode != "baseline"

    @property
    def learns_str(self) -> bool:
        """Whether the model learns STR coefficients: the transfer method with learned STR
        and an alignment term to trade against."""
        return self.mode == "transfer" and self.loss.learned_str

    @property
    def effective_loss(self) -> LossConfig:
        """The loss constants training uses: ``loss``, except that the reference's "no
        sliding" ablation (``parity_no_sliding_drops_alignment`` without the power schedule)
        keeps the STR weighting of the event loss but drops alignment (alpha = 0)."""
        if self.parity_no_sliding_drops_alignment and self.sliding.kind != "power":
            return replace(self.loss, alpha=0.0)
        return self.loss

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TransferConfig:
        """Build from plain data (a YAML recipe with ``--set`` overrides applied); unknown
        keys, wrong types and values out of range raise ``ConfigError`` naming the key."""
        return from_dict(cls, data)


def _check_device(device: str) -> None:
    if device == "auto":
        return
    import torch

    try:
        torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise ConfigError(f"device = {device!r} must be auto, cpu, cuda or cuda:<index>") from None


def check_data(config: TransferConfig, data: Any) -> None:
    """The checks that need the loaded dataset (a ``PairedData``), made before any model is
    built: its T, its static images, its validation split, the batch size, and that its
    framing and transforms pickle (the first checkpoint stores the framing)."""
    if hasattr(data, "check_picklable"):
        data.check_picklable()
    if data.frame_shape[0] != config.time_steps:
        raise ConfigError(
            f"dataset frames have T = {data.frame_shape[0]}, config time_steps = "
            f"{config.time_steps}; they must agree"
        )
    if config.uses_static and not data.has_static:
        raise DatasetError(data.no_static_message())
    if config.selection == "val" and len(data.val) == 0:
        raise ConfigError(
            "selection = 'val' but the dataset has no validation split; set "
            "selection=test (the paper's parity setting) or give the dataset a val_fraction"
        )
    check_dataset_size(config, len(data.train))


def check_dataset_size(config: TransferConfig, train_samples: int) -> None:
    """Refuse a batch that the training split cannot fill, before anything is trained.

    Batches are drawn without a last incomplete one (drop_last), so an epoch of
    ``data.epoch_samples`` (default: the ``train_samples`` of the split) samples has
    ``epoch_samples // data.batch_size`` batches: zero when the batch is larger.
    """
    if train_samples < 1:
        raise ConfigError(
            f"the training split of data.dataset = {config.data.dataset!r} is empty; check "
            "data.options (event_fraction, per_class, root)"
        )
    per_epoch = config.data.epoch_samples or train_samples
    batch = config.data.batch_size
    if batch > per_epoch:
        source = (
            f"data.epoch_samples = {per_epoch}"
            if config.data.epoch_samples
            else f"the training split ({train_samples} samples)"
        )
        raise ConfigError(
            f"data.batch_size = {batch} is larger than {source}; with the last incomplete "
            f"batch dropped an epoch would have no batch: data.batch_size must be in "
            f"1..{per_epoch} (or raise data.epoch_samples)"
        )


#: what ``train --resume RUN --set KEY=VALUE`` may change: how long and where the run goes
#: on, not what it learns from (data, model, loss and schedule keep their values)
RESUMABLE_KEYS = (
    "epochs",
    "device",
    "threads",
    "compile",
    "keep_checkpoints",
    "checkpoint_every",
    "data.workers",
    "data.eval_batch_size",
    "data.options.workers",
    "data.options.progress",
    "data.options.cache_dir",
    "data.options.root",
    "data.options.static_root",
)


def resumed_config(
    stored: dict[str, Any], overrides: list[str] | tuple[str, ...]
) -> TransferConfig:
    """The config of a resumed run: ``stored`` (its ``config.yaml``) with ``overrides``
    (``key=value``) applied. A key outside :data:`RESUMABLE_KEYS` is refused by name: it would
    change what the epochs already trained were trained on."""
    for text in overrides:
        key = ".".join(parse_override(text)[0])
        if key not in RESUMABLE_KEYS:
            raise ConfigError(
                f"--set {text!r}: {key} cannot change when a run is resumed (the epochs already "
                f"trained used the stored value); keys that may: {', '.join(RESUMABLE_KEYS)}. "
                "Start a new run (another --out) to change it"
            )
    return TransferConfig.from_dict(apply_overrides(merge({}, stored), overrides))


def build_dataset(config: TransferConfig, *, progress: bool = True, **options: Any) -> Any:
    """The ``PairedData`` of ``config``: ``data.dataset`` with ``data.options``, the run's
    ``time_steps`` and ``seed`` (``options`` override ``data.options``). ``progress=False``
    silences the dataset's bars (frame cache, emulation) unless ``data.options`` sets it."""
    from snn_transfer.events.registry import dataset_entry, load_dataset

    unset = "progress" not in {**config.data.options, **options}
    if not progress and unset and "progress" in dataset_entry(config.data.dataset).options():
        options["progress"] = False
    base = {"time_steps": config.time_steps, "seed": config.seed}
    return load_dataset(config.data.dataset, **{**base, **config.data.options, **options})


def as_paired_data(config: TransferConfig, data: Any = None, *, progress: bool = True) -> Any:
    """``data`` given to the trainer, as a ``PairedData``: None builds the config's own
    (:func:`build_dataset`); a ``PairedData`` is taken as it is; a dataset object (Tonic's, or any map-style dataset of ``(events, target)``) through the
    ``tonic`` entry of the registry with the run's ``time_steps`` and ``seed``, and
    ``data.options`` when ``data.dataset`` is ``tonic`` (for other options, call
    ``load_dataset(dataset, ...)`` yourself and pass its result)."""
    if data is None:
        return build_dataset(config, progress=progress)
    if hasattr(data, "frame_shape") and hasattr(data, "train"):
        return data
    if not (hasattr(data, "__getitem__") and hasattr(data, "__len__")):
        raise ConfigError(
            f"Trainer(data=...) got {type(data).__name__}; pass a PairedData "
            "(snn_transfer.events.datasets.load_dataset(...)) or a dataset of (events, target) "
            "pairs such as a Tonic dataset"
        )
    from snn_transfer.events.registry import load_dataset

    options = dict(config.data.options) if config.data.dataset == "tonic" else {}
    return load_dataset(data, time_steps=config.time_steps, seed=config.seed, **options)
