"""Shared fixtures: where the real sample recordings are, and a seeded RNG."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = Path(os.environ.get("SNN_TRANSFER_SAMPLES", REPO / ".samples" / "tonic"))


def sample_file(name: str) -> Path:
    """Path of a real recording from tonic 1.6.0's sdist, or skip the test with the reason."""
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(
            f"real sample {name} not found in {SAMPLES}: run scripts/fetch_samples.sh "
            "(downloads tonic 1.6.0's source distribution from PyPI)"
        )
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def one_thread():
    """Run a test on one torch thread: on two cores shared with other jobs, oversubscribed
    intra-op threads are 3-10x slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
