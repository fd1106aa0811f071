"""The paper scripts name only recipes that resolve, and fail clearly without data."""

from __future__ import annotations

import os
import re
import subprocess

from conftest import REPO

from snn_transfer.recipes import resolve

PAPER = REPO / "scripts" / "paper"


def test_every_recipe_named_by_the_paper_scripts_resolves():
    names = set()
    for script in PAPER.glob("*.sh"):
        text = script.read_text()
        for flavour in ("parity", ""):
            for pct in ("10", "100"):
                expanded = text.replace(
                    "${FLAVOUR:+-$FLAVOUR}", f"-{flavour}" if flavour else ""
                ).replace("$pct", pct)
                for ablation in ("no-align", "fixed-0.5", "no-v"):
                    body = expanded.replace("$ablation", ablation).replace("$mode", "-baseline")
                    names |= set(re.findall(r"\b((?:ncaltech101|cepdvs)[a-z0-9.\-]*)", body))
    names = {n.rstrip("-.") for n in names if not n.endswith("*")}
    assert len(names) > 10
    for name in names:
        resolve(name).config()  # raises on any unknown modifier


def test_scripts_stop_with_a_message_without_dataset_folders(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_ROOT")}
    result = subprocess.run(
        ["bash", str(PAPER / "main_result.sh")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "RUNS": str(tmp_path / "runs")},
    )
    assert result.returncode != 0
    assert "set NCALTECH_ROOT" in result.stderr
