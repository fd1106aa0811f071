"""The README's Python API example runs as written, and its commands exist."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from conftest import REPO

README = (REPO / "README.md").read_text()


def test_python_api_example_runs(tmp_path):
    section = README.split("## Python API", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert code.count("\n") < 20  # the promise: training in under 20 lines
    result = subprocess.run(
        [sys.executable, "-c", "import torch; torch.set_num_threads(1)\n" + code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "SNN_TRANSFER_CACHE": str(tmp_path / "cache")},
    )
    assert result.returncode == 0, result.stderr
    predicted, true = result.stdout.strip().splitlines()[-1].split(" true: ")
    assert predicted.split(" - ")[0].isdigit() and true.split(" - ")[0].isdigit()
    assert (tmp_path / "runs" / "api-example" / "best.pt").exists()


def test_quick_start_commands_are_the_ones_ci_runs():
    quick = README.split("## Quick start", 1)[1].split("##", 1)[0]
    commands = re.findall(r"```bash\n(.*?)\n```", quick, re.S)
    assert commands[0].endswith("pip install -e . && snn-transfer demo")
    assert 'pip install -e ".[test]"' in commands[1] and commands[1].endswith("python -m pytest")
    ci = (REPO / ".ci" / "run").read_text()
    assert 'pip install --quiet -e ".[test]"' in ci and "scripts/fetch_samples.sh" in ci
    assert "python -m pytest" in ci
