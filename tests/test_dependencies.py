"""pyproject.toml declares what the package imports, and nothing it does not: every
third-party import of ``snn_transfer/``, ``events/`` and ``kernels/`` (read with ``ast``, at
module level and inside functions) belongs to a declared dependency or, for the optional
features, to an extra; and every runtime dependency is imported somewhere."""

from __future__ import annotations

import ast
import re
import sys
import tomllib

from conftest import REPO

FOLDERS = ("snn_transfer", "events", "kernels")
# import name -> distribution, where they differ
DISTRIBUTION = {"PIL": "pillow", "sklearn": "scikit-learn", "yaml": "pyyaml"}
# imports that need a distribution besides their own package's
IMPLIED = {"torch.utils.tensorboard": "tensorboard"}
# optional features: imported only where they are used, declared in an extra
OPTIONAL = {"cupy": ("cuda12", "cuda13"), "nir": ("nir",), "nirtorch": ("nir",)}
# declared although the package does not import it (yet), with the reason
NOT_IMPORTED: set[str] = set()


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower()


def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def third_party_imports() -> dict[str, set[str]]:
    """Imported module (dotted, as written) -> the files that import it."""
    found: dict[str, set[str]] = {}
    for folder in FOLDERS:
        for path in sorted((REPO / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top in ("snn_transfer", "__future__"):
                        continue
                    found.setdefault(name, set()).add(str(path.relative_to(REPO)))
    return found


def needed() -> dict[str, set[str]]:
    """Distribution -> the files whose imports need it."""
    out: dict[str, set[str]] = {}
    for module, files in third_party_imports().items():
        top = module.split(".")[0]
        for dist in {DISTRIBUTION.get(top, top).lower(), IMPLIED.get(module)} - {None}:
            out.setdefault(dist, set()).update(files)
    return out


def test_every_third_party_import_is_declared():
    declared = {_name(r) for r in project()["dependencies"]}
    extras = {k: {_name(r) for r in v} for k, v in project()["optional-dependencies"].items()}
    missing = []
    for dist, files in sorted(needed().items()):
        if dist in OPTIONAL:
            if not all(any(r.startswith(dist) for r in extras[e]) for e in OPTIONAL[dist]):
                missing.append(f"{dist} (optional) missing from the extras {OPTIONAL[dist]}")
            continue
        if dist not in declared:
            missing.append(f"{dist}, imported by {', '.join(sorted(files))}")
    assert not missing, "undeclared: " + "; ".join(missing)
    # the scan sees the imports it is about
    assert {"torch", "numpy", "pillow", "tensorboard", "spikingjelly"} <= set(needed())


def test_every_runtime_dependency_is_imported():
    unused = {_name(r) for r in project()["dependencies"]} - set(needed()) - NOT_IMPORTED
    assert not unused, f"declared but never imported by the package: {sorted(unused)}"
    assert "torchvision" not in {_name(r) for r in project()["dependencies"]}


def test_the_readme_says_what_each_heavy_dependency_is_for():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## What the dependencies are for", 1)[1].split("\n## ", 1)[0]
    for dist in ("torch", "spikingjelly", "tonic", "scipy", "h5py", "scikit-learn", "tensorboard"):
        assert f"`{dist}`" in section, dist
