"""Run a notebook of notebooks/ top to bottom, as a user would, and read what it printed."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"


def notebook(name: str) -> Path:
    """The path of ``notebooks/<name>``."""
    path = NOTEBOOKS_DIR / name
    assert path.is_file(), f"{name} is missing from notebooks/"
    return path


@dataclass
class Ran:
    """An executed notebook: its cells with their outputs, and the text of every output."""

    nb: Any

    def cell_text(self, cell: Any) -> str:
        return "\n".join(output_text(o) for o in cell.get("outputs", []))

    @property
    def text(self) -> str:
        return "\n".join(self.cell_text(c) for c in self.nb.cells if c.cell_type == "code")

    def tagged(self, tag: str) -> str:
        """The output text of the code cell(s) carrying ``tag`` in their metadata tags."""
        cells = [c for c in self.nb.cells if tag in c.get("metadata", {}).get("tags", [])]
        assert cells, f"no cell is tagged {tag!r}"
        return "\n".join(self.cell_text(c) for c in cells)


def output_text(output: Any) -> str:
    if output.get("output_type") == "stream":
        return str(output.get("text", ""))
    data = output.get("data", {})
    return str(data.get("text/plain", "")) + str(data.get("text/html", ""))


def run_notebook(path: Path, work: Path, timeout: int = 180) -> Ran:
    """Execute ``path`` in ``work`` with the python3 kernel; fail on any error output."""
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient

    assert KernelSpecManager().get_kernel_spec("python3").argv[0] == sys.executable
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, kernel_name="python3", timeout=timeout, resources={"metadata": {"path": str(work)}}
    ).execute()
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.get("output_type") == "error"
    ]
    assert errors == [], errors
    return Ran(nb)
