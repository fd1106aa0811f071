"""The package installs, its CLIs start, and the data layer stays free of torch."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_python_m_snn_transfer_help_from_repo_root():
    result = run("-m", "snn_transfer", "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: snn-transfer" in result.stdout
    assert "demo" in result.stdout


def test_unknown_subcommand_fails_with_usage():
    result = run("-m", "snn_transfer", "frobnicate")
    assert result.returncode == 2
    assert "usage: snn-transfer" in result.stderr
    assert "invalid choice" in result.stderr


def test_events_import_does_not_load_torch_or_spikingjelly():
    code = (
        "import sys, snn_transfer.events, snn_transfer.events.io, snn_transfer.events.framing;"
        "import snn_transfer.events.cli;"
        "heavy = [m for m in ('torch', 'spikingjelly', 'tonic') if m in sys.modules];"
        "print(snn_transfer.events.__name__, heavy)"
    )
    result = run("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "snn_transfer.events []"


def test_version_and_lazy_exports():
    result = run(
        "-c",
        "import sys, snn_transfer as s; print(s.__version__);"
        "print(s.EventFormatError.__name__, 'torch' in sys.modules)",
    )
    assert result.returncode == 0, result.stderr
    version, names = result.stdout.split("\n")[:2]
    assert version.count(".") == 2
    assert names == "EventFormatError False"


def test_snn_events_help_and_unknown_subcommand():
    ok = run("-m", "snn_transfer.events.cli", "--help")
    assert ok.returncode == 0 and "info" in ok.stdout
    bad = run("-m", "snn_transfer.events.cli", "nonsense")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_no_top_level_events_or_kernels_module_installed(tmp_path):
    # outside the repository only the snn_transfer namespace may provide these packages
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import importlib.util as u, snn_transfer.events as e;"
            "print(u.find_spec('events'), u.find_spec('kernels'), e.__name__)",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["None", "None", "snn_transfer.events"]
