"""Every notebook in notebooks/ runs top to bottom over a lake in tmp_path, and is stored clean."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import nbformat
import polars as pl
import pytest

from hhs_platform.lake import Lake
from schemas import table_spec

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
FIRST_DAY = dt.date(2026, 4, 1)
# (platform, account_id, handle, agency, followers on day 0, daily gain)
ACCOUNTS = [
    ("x", "cdc-x", "CDCgov", "CDC", 1_000_000, 700),
    ("bluesky", "cdc-bs", "cdc.gov", "CDC", 50_000, 40),
    ("youtube", "nih-yt", "NIHod", "NIH", 234_567, 12),
]
DAYS = 5


def _gold() -> pl.DataFrame:
    rows: list[dict[str, Any]] = []
    for day in range(DAYS):
        for platform, account_id, handle, agency, base, gain in ACCOUNTS:
            followers = base + gain * day
            rows.append(
                {
                    "date": FIRST_DAY + dt.timedelta(days=day),
                    "platform": platform,
                    "account_id": account_id,
                    "handle": handle,
                    "agency": agency,
                    "parent_agency": "HHS",
                    "followers": followers,
                    "followers_change": None if day == 0 else gain,
                    "posts_published": 2,
                    "likes": 30 + day,
                    "reposts": 5,
                    "replies": 2,
                    "quotes": 1,
                    "engagement": 38 + day,
                    "engagement_rate": (38 + day) / followers,
                }
            )
    return pl.DataFrame(
        rows, schema_overrides=dict(table_spec("gold/daily_account_metrics").schema)
    )


def _accounts() -> pl.DataFrame:
    seen = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    rows = [
        {
            "run_id": "run-1",
            "response_id": f"resp-{account_id}",
            "connector_version": "test",
            "platform": platform,
            "account_id": account_id,
            "handle": handle,
            "display_name": f"{agency} on {platform}",
            "account_key": f"{platform}:{handle}",
            "agency": agency,
            "parent_agency": "HHS",
            "tier": 1,
            "first_seen_at": seen,
            "last_seen_at": seen,
        }
        for platform, account_id, handle, agency, _, _ in ACCOUNTS
    ]
    return pl.DataFrame(rows, schema_overrides=dict(table_spec("silver/accounts").schema))


@pytest.fixture
def notebook_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A filled lake named by HHS_LAKE_URI, and a python3 kernel that runs this interpreter."""
    lake_uri = tmp_path / "lake"
    lake = Lake(str(lake_uri))
    lake.write("gold/daily_account_metrics", _gold())
    lake.write("silver/accounts", _accounts())
    monkeypatch.setenv("HHS_LAKE_URI", str(lake_uri))

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


def _text(output: Any) -> str:
    if output.get("output_type") == "stream":
        return str(output.get("text", ""))
    data = output.get("data", {})
    return str(data.get("text/plain", "")) + str(data.get("text/html", ""))


def test_there_are_notebooks() -> None:
    assert [p.name for p in NOTEBOOKS][:1] == ["01-getting-started.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: clear the outputs before committing"
            assert cell.execution_count is None, f"{path.name}: clear execution counts"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_over_the_lake(path: Path, notebook_env: Path) -> None:
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient

    assert KernelSpecManager().get_kernel_spec("python3").argv[0] == sys.executable
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb,
        kernel_name="python3",
        timeout=120,
        resources={"metadata": {"path": str(notebook_env)}},
    ).execute()

    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert errors == [], errors
    text = "\n".join(_text(o) for o in outputs)
    last_day = FIRST_DAY + dt.timedelta(days=DAYS - 1)
    total = sum(base + gain * (DAYS - 1) for *_, base, gain in ACCOUNTS)
    if path.name == "01-getting-started.ipynb":
        assert f"Lake: {notebook_env.parent / 'lake'}" in text
        assert f"Total followers on {last_day}: {total:,}" in text
        assert "NIHod" in text and "CDC on bluesky" in text
        assert ":NdOverlay" in text  # the hvPlot trend rendered
        assert f"{len(ACCOUNTS) * DAYS:,} rows, {DAYS} days, {len(ACCOUNTS)} accounts" in text
