"""Every notebook in notebooks/ is numbered by step, has a test that runs it over the demo lake
(tests/notebooks/test_nbNN_*.py), and is stored clean of outputs."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from notebook_run import NOTEBOOKS_DIR

NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
#: The steps, in order (issue 8): each notebook builds on the ones before.
STEPS = [
    "01-getting-started.ipynb",
    "02-trends-across-agencies.ipynb",
    "03-investigating-an-anomaly.ipynb",
    "04-engagement-curves-and-overperformance.ipynb",
    "05-data-quality-and-coverage.ipynb",
    "06-custom-metric-as-gold-table.ipynb",
]


def test_the_notebooks_are_the_numbered_steps() -> None:
    assert [p.name for p in NOTEBOOKS] == STEPS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_each_notebook_has_a_test_that_runs_it(path: Path) -> None:
    number = re.match(r"(\d\d)-", path.name)
    assert number is not None
    tests = list(Path(__file__).parent.glob(f"test_nb{number.group(1)}_*.py"))
    assert len(tests) == 1, f"{path.name} needs one tests/notebooks/test_nb{number.group(1)}_*.py"
    assert path.name in tests[0].read_text()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: clear the outputs before committing"
            assert cell.execution_count is None, f"{path.name}: clear execution counts"
