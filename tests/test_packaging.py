"""Every package of the source tree is listed in pyproject.toml, so installs are whole."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_installed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    # every folder holding Python modules, with or without an __init__.py
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "optbench").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    mapped = {
        "optbench." + ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "migrations").rglob("__init__.py")
    }
    assert found | mapped == listed
