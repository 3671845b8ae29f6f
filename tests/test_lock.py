"""uv.lock pins what pyproject.toml declares and what the tests run on; the secret-scan baseline
is reviewed; the vulnerability audit fails and warns as SECURITY.md says."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


@functools.cache
def _lock() -> dict:
    return tomllib.loads((ROOT / "uv.lock").read_text())


def _checks() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "security_checks", ROOT / "tools/security_checks.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lock_is_current_with_pyproject() -> None:
    uv = Path(sys.executable).parent / "uv"
    if not uv.exists():
        uv = Path(shutil.which("uv") or "")
    if not uv.is_file():
        pytest.skip("uv is not installed")
    done = subprocess.run(
        [str(uv), "lock", "--check", "--offline", "--python", sys.executable],
        cwd=ROOT,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"uv.lock is stale: run `make lock`\n{done.stderr}"


def test_every_declared_dependency_is_locked_with_its_specifier() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {
        (canonicalize_name(r.name), str(r.specifier), tuple(sorted(r.extras)), extra)
        for extra, reqs in [("", project["dependencies"])]
        + [(k, v) for k, v in project["optional-dependencies"].items()]
        for r in map(Requirement, reqs)
    }
    packages = {p["name"]: p for p in _lock()["package"]}
    root = packages["hhs-platform"]
    locked = set()
    for item in root["metadata"]["requires-dist"]:
        marker = item.get("marker", "")
        extra = marker.split("'")[1] if "extra ==" in marker else ""
        locked.add(
            (
                item["name"],
                str(SpecifierSet(item.get("specifier", ""))),
                tuple(sorted(item.get("extras", []))),
                extra,
            )
        )
    assert locked == declared
    # and each one is pinned to a single version of a registry package
    for name, *_ in declared:
        assert packages[name]["version"], name
        assert "registry" in packages[name]["source"], name


def test_the_environment_is_the_locked_one() -> None:
    """Every locked package that is installed has the locked version (`make venv` installs them)."""
    pinned = {p["name"]: p["version"] for p in _lock()["package"] if "registry" in p["source"]}
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    drift = {
        n: (v, installed[n]) for n, v in pinned.items() if n in installed and installed[n] != v
    }
    assert drift == {}, f"installed versions differ from uv.lock (locked, installed): {drift}"
    # the whole runtime and dev closure is installed, not only a part of it
    for name in ("prefect", "panel", "deltalake", "pytest", "pip-audit", "detect-secrets"):
        assert installed.get(name) == pinned[name], name


def test_secrets_baseline_is_reviewed_and_current() -> None:
    baseline = json.loads((ROOT / ".secrets.baseline").read_text())
    results = baseline["results"]
    assert results, "the baseline lists the reviewed false positives"
    reviewed = [s for findings in results.values() for s in findings]
    assert [s for s in reviewed if s.get("is_secret") is not False] == []
    assert all(len(s["hashed_secret"]) == 40 for s in reviewed)
    # entries point at files that exist (a stale entry hides nothing but misleads the review)
    assert [f for f in results if not (ROOT / f).is_file()] == []
    assert baseline["version"] == metadata.version("detect-secrets")
    assert not set(results) & {".secrets.baseline", "uv.lock"}


def test_audit_fails_on_a_vulnerability_and_warns_when_nothing_was_audited() -> None:
    outcome = _checks().audit_outcome
    vulnerable = {
        "dependencies": [
            {
                "name": "jinja2",
                "version": "2.10",
                "vulns": [{"id": "PYSEC-2019-217", "fix_versions": ["2.10.1"]}],
            },
            {"name": "polars", "version": "2.1.0", "vulns": []},
        ]
    }
    ok, lines = outcome(vulnerable, strict=False)
    assert not ok
    assert "audit: VULNERABLE jinja2==2.10: PYSEC-2019-217 (fixed in 2.10.1)" in lines

    unreachable = {
        "dependencies": [
            {
                "name": n,
                "skip_reason": f"Dependency not found on PyPI and could not be audited: {n}",
            }
            for n in ("jinja2", "polars", "panel")
        ]
    }
    ok, lines = outcome(unreachable, strict=False)
    assert ok
    assert lines[0].startswith("audit: NOT AUDITED: 3 of 3 pinned packages")
    ok, lines = outcome(unreachable, strict=True)
    assert not ok and lines[-1].startswith("audit: FAILED")

    partly = {"dependencies": [*unreachable["dependencies"][:1], vulnerable["dependencies"][1]]}
    ok, lines = outcome(partly, strict=False)
    assert ok and "1 of 2 pinned packages" in lines[0] and "the other 1 have no known" in lines[0]
    assert outcome({"dependencies": [vulnerable["dependencies"][1]]}, strict=True) == (
        True,
        ["audit: ok (1 pinned packages, no known vulnerability)"],
    )


def test_a_connection_failure_is_told_apart_from_other_pip_audit_crashes() -> None:
    unreachable_error = _checks().unreachable_error
    dns = (
        "Traceback (most recent call last):\n  ...\n"
        "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='pypi.org', port=443): "
        "Max retries exceeded (Caused by NameResolutionError(...))\n"
    )
    assert unreachable_error(dns) == "ConnectionError"
    assert unreachable_error("Traceback ...\nValueError: bad requirement\n") is None
    assert unreachable_error("") is None
