"""Fixtures of the notebook tests: a private copy of the demo world's lake (notebooks may write,
e.g. publish a custom gold table) named by HHS_LAKE_URI, and a python3 kernel of this
interpreter."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest


@pytest.fixture
def notebook_lake(tmp_path: Path, world_lake: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder notebooks run in; the lake they read is ``<its parent>/lake``."""
    lake = tmp_path / "lake"
    shutil.copytree(world_lake, lake)
    monkeypatch.setenv("HHS_LAKE_URI", str(lake))

    # JUPYTER_PATH comes first in the kernel search, so "python3" is the .venv's interpreter.
    spec_dir = tmp_path / "jupyter" / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (test)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    work = tmp_path / "work"
    work.mkdir()
    return work
