"""What a trainer's checkpoint holds, and putting it back: tensors and plain data only.

:func:`capture` is the state ``Trainer`` writes into every checkpoint (config, classes, the
framing as plain data, model, domain classifier, optimizer and scaler states, positions,
history, RNG states, and where the model comes from); :func:`restore` puts one back. Both
keep to what ``torch.load(weights_only=True)`` reads (see ``checkpoint_state``).
"""

from __future__ import annotations

from typing import Any

import torch

from snn_transfer.checkpoint_state import numpy_rng_state, set_numpy_rng_state, spec_to_plain
from snn_transfer.config_loader import to_dict
from snn_transfer.training_module import model_source


def capture(trainer: Any) -> dict[str, Any]:
    """The checkpoint state of ``trainer`` (a ``Trainer``)."""
    return {
        "config": to_dict(trainer.config),
        "classes": list(trainer.data.classes),
        "framing": spec_to_plain(getattr(trainer.data.train, "framing", None)),
        "model_source": model_source(trainer.config, trainer.model.backbone),
        "model": trainer.model.state_dict(),
        "domain": None if trainer.module.domain is None else trainer.module.domain.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "scaler": trainer.scaler.state_dict(),
        "epoch": trainer.epoch,
        "position": trainer.position,
        "iteration": trainer.iteration,
        "sampler": {
            "seed": trainer.config.seed,
            "epoch": trainer.epoch,
            "position": trainer.position,
        },
        "world": trainer.dist.world,
        "history": trainer.history,
        "sums": trainer.sums,
        "best": trainer.best,
        "rng": {"torch": torch.get_rng_state(), "numpy": numpy_rng_state()},
    }


def restore(trainer: Any, state: dict[str, Any]) -> None:
    """Put the checkpoint ``state`` back into ``trainer``."""
    trainer.model.load_state_dict(state["model"])
    if trainer.module.domain is not None and state.get("domain") is not None:
        trainer.module.domain.load_state_dict(state["domain"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer.scaler.load_state_dict(state["scaler"])
    trainer.epoch, trainer.position = state["epoch"], state["position"]
    trainer.iteration = state["iteration"]
    trainer.history, trainer.best = state["history"], state["best"]
    trainer.sums = dict(state.get("sums", {}))
    torch.set_rng_state(state["rng"]["torch"])
    set_numpy_rng_state(state["rng"]["numpy"])
