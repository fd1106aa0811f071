"""The paper recipes run end to end on fake dataset trees, through the frame cache.

Each recipe keeps its model, losses and schedule; batch, T and the number of iterations are
shrunk with overrides so that a few iterations take seconds on two cores.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_recorded_entries import write_cepdvs, write_nomniglot, write_omniglot_images
from test_recorded_fakes import write_caltech_images, write_ncaltech

from snn_transfer.recipes import resolve
from snn_transfer.trainer import Trainer

torch.set_num_threads(1)


def _trees(name, root, rng):
    if name == "ncaltech101":
        write_ncaltech(root / "events", rng)
        write_caltech_images(root / "images", rng)
        return [
            f"data.options.root={root / 'events'}",
            f"data.options.static_root={root / 'images'}",
        ]
    if name == "nomniglot":
        write_nomniglot(root / "events", rng)
        write_omniglot_images(root / "images", rng)
        return [
            f"data.options.root={root / 'events'}",
            f"data.options.static_root={root / 'images'}",
        ]
    write_cepdvs(root / "events", rng, per_class=4)
    return [f"data.options.root={root / 'events'}"]


@pytest.mark.parametrize("recipe", ["ncaltech101", "cepdvs", "nomniglot", "ncaltech101-parity"])
def test_paper_recipe_trains_a_few_iterations(recipe, tmp_path):
    rng = np.random.default_rng(0)
    sets = _trees(recipe.split("-")[0], tmp_path, rng) + [
        "time_steps=2",
        "data.batch_size=4",
        "data.eval_batch_size=8",
        "data.workers=0",
        f"data.options.cache_dir={tmp_path / 'cache'}",
        "data.options.progress=false",
        "epochs=1",
    ]
    config = resolve(recipe).config(sets)
    trainer = Trainer(config, tmp_path / "run", progress=False, quiet=True)
    result = trainer.fit(stop_after=2)
    assert result["iterations"] == 2
    assert list((tmp_path / "cache" / "frames").glob("*-train-*.h5"))  # trained from the cache
    out = trainer.model(None, torch.from_numpy(trainer.data.test[0][0])[:, None])
    assert out.event_logits.shape == (2, 1, len(trainer.data.classes))
    assert (tmp_path / "run" / "checkpoints").exists()
