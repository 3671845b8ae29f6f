"""`hhs demo --no-serve` end to end: its own Prefect server, Dask cluster and simulated platforms."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from schemas import CATALOGUE
from schemas.catalogue import EMPTY_ON_CLEAN_DATA


@pytest.mark.slow
def test_demo_no_serve_fills_every_table_and_stops_what_it_started(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "HHS_"))}
    hhs = Path(sys.executable).with_name("hhs")
    proc = subprocess.run(
        [
            str(hhs),
            "demo",
            "--no-serve",
            "--lake",
            str(tmp_path / "lake"),
            "--prefect-port",
            "4391",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert re.search(r"prefect ui: http://127\.0\.0\.1:\d+", out), out[-2000:]
    assert re.search(r"dask dashboard: http://", out)
    # the demo audits silver against the ground truth it served
    for platform in ("bluesky", "facebook", "flickr", "instagram", "linkedin", "x", "youtube"):
        m = re.search(rf"{platform}: (\d+)/(\d+) posts \(recall 100\.00%, 0 duplicates\)", out)
        assert m and m.group(1) == m.group(2) and int(m.group(1)) > 0, out[-2000:]
    assert out.count("lowest field accuracy 100.00%") == 7
    assert "pinterest: not collected (3 accounts): no connector yet" in out
    for name in CATALOGUE:
        table = pl.read_delta(str(tmp_path / "lake" / name))  # every table exists, even when empty
        if name not in EMPTY_ON_CLEAN_DATA:
            assert table.height > 0, name
    # the Prefect server it started is gone
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "prefect server start --host 127.0.0.1 --port 4391" not in ps
