"""environment.yml installs exactly what pyproject.toml declares; the Makefile documents every target."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _norm(req: str) -> str:
    return re.sub(r"\s+", "", req).lower()


def test_environment_yml_mirrors_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_norm(r) for r in project["dependencies"]} | {
        _norm(r) for r in project["optional-dependencies"]["dev"]
    }
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {_norm(r) for r in pip_section if not r.startswith("-")}
    assert listed == declared, {
        "only in environment.yml": sorted(listed - declared),
        "only in pyproject.toml": sorted(declared - listed),
    }
    assert "-e ." in pip_section
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python == "python=3.12"
    assert project["requires-python"] == ">=3.12"


def test_makefile_help_lists_every_target() -> None:
    text = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-zA-Z][\w-]*):", text, flags=re.M))
    documented = set(re.findall(r"^([a-zA-Z][\w-]*):.*?## ", text, flags=re.M))
    assert {"demo", "test", "help"} <= documented
    assert targets - documented == set(), f"targets without a ## help text: {targets - documented}"


def test_test_modules_have_unique_names() -> None:
    """Test folders are not packages, so two test files with one basename break collection."""
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py")]
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})
