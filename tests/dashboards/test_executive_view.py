"""The Executive page's view in the test's process: its warm-up of the other periods."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import polars as pl
import pytest

from hhs_platform.dashboards import executive, kit
from hhs_platform.lake.reads import UNASSIGNED_AGENCY
from hhs_platform.reports.highlights import load_highlights

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reports"))
from period_lake import build_period_lake


def _figures(h: object) -> list[tuple[str, object]]:
    return [(f.name, f.value) for f in h.figures()]  # type: ignore[attr-defined]


def test_warm_up_computes_the_other_periods_once_for_every_session(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lake = build_period_lake(tmp_path)
    daily = lake.read("gold/daily_account_metrics")
    dims = (
        daily.select("agency", "platform")
        .unique()
        .with_columns(pl.col("agency").fill_null(UNASSIGNED_AGENCY))
    )
    view = executive.ExecutiveView(lake, dims)
    assert view.period.value == "month" and view.warming is None
    with caplog.at_level(logging.WARNING, logger=executive.__name__):
        view.warm()
        assert view.warming is not None
        view.warming.join(60)
    assert not view.warming.is_alive()
    assert caplog.records == []

    def not_again() -> object:
        raise AssertionError("computed again: the warm-up did not keep it")

    for period in ("week", "90d"):
        # the shared cache holds the period's highlights and account rows of the view's scope
        h = kit.memo(
            lake, executive._HIGHLIGHT_TABLES, ("executive", period, None, None), not_again
        )
        assert _figures(h) == _figures(load_highlights(lake, period))
        assert h.period is not None
        rows = kit.memo(
            lake,
            ("gold/daily_account_metrics",),
            ("executive-accounts", h.period.start, h.period.end, None, None),
            not_again,
        )
        assert isinstance(rows, pl.DataFrame) and rows.columns == executive.ACCOUNT_COLUMNS
        in_period = daily.filter(pl.col("date").is_between(h.period.start, h.period.end))
        assert rows.height == in_period.select("platform", "account_id").n_unique() > 0

    # choosing the period then shows those figures without computing them
    view.period.value = "week"
    assert _figures(view._highlights) == _figures(load_highlights(lake, "week"))
