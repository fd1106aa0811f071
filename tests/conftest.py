"""Shared fixtures: where the real sample recordings are, a seeded RNG, and the
``--fuzz-examples N`` option of tests/test_fuzz_readers.py."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = Path(os.environ.get("SNN_TRANSFER_SAMPLES", REPO / ".samples" / "tonic"))
FUZZ_EXAMPLES_ENV = "SNN_TRANSFER_FUZZ_EXAMPLES"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fuzz-examples",
        type=int,
        default=None,
        metavar="N",
        help="damaged files per format and kind of damage in tests/test_fuzz_readers.py "
        f"(default: ${FUZZ_EXAMPLES_ENV}, else a small number for CI)",
    )


def pytest_configure(config: pytest.Config) -> None:
    # through the environment, so test modules read it at import time whatever the import
    # path of this conftest
    value = config.getoption("--fuzz-examples")
    if value is not None:
        if value < 1:
            raise pytest.UsageError(f"--fuzz-examples must be >= 1, got {value}")
        os.environ[FUZZ_EXAMPLES_ENV] = str(value)


def fuzz_examples(default: int) -> int:
    """Examples per fuzz test: ``--fuzz-examples N``, ``$SNN_TRANSFER_FUZZ_EXAMPLES`` or
    ``default``."""
    raw = os.environ.get(FUZZ_EXAMPLES_ENV, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise pytest.UsageError(f"{FUZZ_EXAMPLES_ENV}={raw!r} must be a positive integer") from None
    if value < 1:
        raise pytest.UsageError(f"{FUZZ_EXAMPLES_ENV}={raw!r} must be a positive integer")
    return value


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
