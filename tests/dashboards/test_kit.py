"""The dashboards' shared kit: safe text, cached reads that follow table versions, agency access,
and login options that never start the server half configured."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import panel as pn
import polars as pl
import pytest

from hhs_platform.dashboards import kit
from hhs_platform.dashboards.server import DASHBOARDS, auth_options
from hhs_platform.errors import ConfigurationError
from hhs_platform.lake import Lake
from hhs_platform.settings import Settings

GOLD = "gold/daily_account_metrics"


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture
def served() -> Iterator[None]:
    yield
    kit.use_settings(None)


def test_escape_md_makes_html_and_markdown_inert() -> None:
    assert kit.escape_md("<script>alert(1)</script>") == (
        "&lt;script&gt;alert\\(1\\)&lt;/script&gt;"
    )
    assert kit.escape_md("[click](javascript:alert(1))") == (
        "\\[click\\]\\(javascript:alert\\(1\\)\\)"
    )
    assert kit.escape_md("**bold** _it_ #tag") == "\\*\\*bold\\*\\* \\_it\\_ \\#tag"
    assert kit.escape_md(None) == ""


def test_read_caches_until_the_table_changes(
    lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kit, "VERSION_TTL_S", 0.0)  # look at the Delta log on every read
    where = pl.col("agency") == "CDC"
    first = kit.read(lake, GOLD, ["date", "account_id", "followers"], where)
    assert first.equals(lake.read(GOLD).filter(where).select("date", "account_id", "followers"))
    assert kit.read(lake, GOLD, ["date", "account_id", "followers"], where) is first  # cached
    lake.overwrite(GOLD, lake.read(GOLD).filter(pl.col("agency") == "FDA"))
    assert kit.read(lake, GOLD, ["date", "account_id", "followers"], where).is_empty()
    empty = kit.read(Lake(str(tmp_path / "none")), GOLD, ["date", "followers"])
    assert empty.is_empty() and empty.columns == ["date", "followers"]


def test_memo_is_shared_until_a_table_changes(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kit, "VERSION_TTL_S", 3600.0)
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert kit.memo(lake, [GOLD], ("k", 1), compute) == 1
    assert kit.memo(lake, [GOLD], ("k", 1), compute) == 1  # another session: no recompute
    assert kit.memo(lake, [GOLD], ("k", 2), compute) == 2  # other arguments
    # within the version TTL the log is not read again; after it, a new version recomputes
    lake.overwrite(GOLD, lake.read(GOLD).head(3))
    assert kit.memo(lake, [GOLD], ("k", 1), compute) == 1
    monkeypatch.setattr(kit, "VERSION_TTL_S", 0.0)
    assert kit.memo(lake, [GOLD], ("k", 1), compute) == 3


def test_memo_computes_a_key_once_while_others_wait(lake: Lake) -> None:
    import threading
    import time

    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def slow() -> str:
        calls.append(threading.current_thread().name)
        started.set()
        release.wait(10)
        return "computed once"

    results: dict[str, str] = {}

    def ask(name: str) -> None:
        results[name] = kit.memo(lake, [GOLD], ("single-flight",), slow)

    first = threading.Thread(target=ask, args=("first",), name="first")
    first.start()
    assert started.wait(10)
    waiters = [threading.Thread(target=ask, args=(n,), name=n) for n in ("second", "third")]
    for t in waiters:
        t.start()
    time.sleep(0.3)  # time for both to ask while the first computes (not a timed assertion)
    release.set()
    for t in (first, *waiters):
        t.join(10)
    assert calls == ["first"]
    assert results == dict.fromkeys(("first", "second", "third"), "computed once")

    # a computation that fails wakes its waiters, and the next one computes it again
    failing_started, let_fail = threading.Event(), threading.Event()

    def fails() -> str:
        failing_started.set()
        let_fail.wait(10)
        raise RuntimeError("the lake went away")

    errors: list[BaseException] = []

    def ask_failing() -> None:
        try:
            kit.memo(lake, [GOLD], ("fails",), fails)
        except RuntimeError as exc:
            errors.append(exc)

    failing = threading.Thread(target=ask_failing)
    failing.start()
    assert failing_started.wait(10)
    waiter: dict[str, str] = {}
    later = threading.Thread(
        target=lambda: waiter.update(v=kit.memo(lake, [GOLD], ("fails",), lambda: "recovered"))
    )
    later.start()
    let_fail.set()
    failing.join(10)
    later.join(10)
    assert [str(e) for e in errors] == ["the lake went away"]
    assert waiter == {"v": "recovered"}
    # and a computation asking for its own key again does not wait for itself
    assert kit.memo(lake, [GOLD], ("outer",), lambda: kit.memo(lake, [GOLD], ("outer",), lambda: 7))


def test_agency_access_per_user_with_the_hierarchy(served: None) -> None:
    frame = pl.DataFrame({"agency": ["HHS", "CDC", "CDC-NCHS", "FDA", None]})
    assert kit.allowed_agencies("anyone") is None  # no setting: everything
    kit.use_settings(_settings(dashboard_agency_access={"cdc-analyst": ["CDC"], "admin": ["*"]}))
    allowed = kit.allowed_agencies("cdc-analyst")
    assert allowed is not None and {"CDC", "CDC-NCHS", "CDC-ES"} <= allowed
    assert "FDA" not in allowed and "HHS" not in allowed
    assert kit.allowed_agencies("admin") is None
    assert kit.allowed_agencies("stranger") == frozenset()  # no entry and no "*": nothing
    kit.use_settings(_settings(dashboard_agency_access={"*": ["FDA"]}))
    fda = kit.allowed_agencies("stranger")
    assert fda is not None and "FDA" in fda and "FDA-OWH" in fda and "CDC" not in fda
    assert kit.restrict(frame)["agency"].to_list() == ["FDA"]  # outside a session: the default


def test_login_options(tmp_path: Path) -> None:
    assert auth_options(_settings()) == {}
    opts = auth_options(_settings(dashboard_password="pw", dashboard_cookie_secret="c" * 32))
    assert opts == {"basic_auth": "pw", "cookie_secret": "c" * 32}
    with pytest.raises(ConfigurationError, match="HHS_DASHBOARD_COOKIE_SECRET"):
        auth_options(_settings(dashboard_password="pw"))
    users = tmp_path / "users.json"
    with pytest.raises(ConfigurationError, match="does not exist"):
        auth_options(_settings(dashboard_users_file=users, dashboard_cookie_secret="c"))
    users.write_text(json.dumps({"ana": "pw1"}))
    assert auth_options(_settings(dashboard_users_file=users, dashboard_cookie_secret="c"))[
        "basic_auth"
    ] == str(users)
    with pytest.raises(ConfigurationError, match="HHS_DASHBOARD_OAUTH_SECRET"):
        auth_options(
            _settings(
                dashboard_oauth_provider="generic",
                dashboard_oauth_key="client",
                dashboard_cookie_secret="c",
            )
        )
    oauth = auth_options(
        _settings(
            dashboard_oauth_provider="generic",
            dashboard_oauth_key="client",
            dashboard_oauth_secret="s3cret",
            dashboard_cookie_secret="c",
            dashboard_oauth_extra_params={"AUTHORIZE_URL": "https://idp.example/authorize"},
        )
    )
    assert oauth["oauth_provider"] == "generic" and oauth["oauth_secret"] == "s3cret"
    assert oauth["oauth_extra_params"] == {"AUTHORIZE_URL": "https://idp.example/authorize"}


def test_every_metric_has_a_definition() -> None:
    for name in kit.METRICS:
        assert kit.definition(name), name
    assert kit.definition("posts_published")
    assert kit.metric_label("engagement_rate") == "Engagement rate"
    assert kit.definition("followers_change") != ""


def test_live_bars_update_their_figure_in_place_and_fit_the_data() -> None:
    import datetime as dt

    import hvplot.polars  # noqa: F401
    import numpy as np
    from bokeh.document import Document
    from bokeh.models import ColumnDataSource

    built: list[pl.DataFrame] = []

    def build(frame: pl.DataFrame) -> object:
        built.append(frame)
        return frame.hvplot.bar(x="date", y="engagement", hover_cols=["date", "engagement"])

    first_day = dt.date(2026, 10, 1)
    frame = pl.DataFrame(
        {
            "date": [first_day + dt.timedelta(days=i) for i in range(5)],
            "engagement": [10, None, 30, -20, 90],
            "other": ["a"] * 5,  # columns beside x and y are left out
        }
    )
    bars = kit.LiveBars(build, "date", "engagement")
    assert bars.figure is None
    assert bars.show(frame)
    figure = bars.figure
    assert bars.pane.object is figure
    bars.pane.get_root(Document())  # on a page: later changes go to the same figure

    def drawn() -> tuple[list[dt.date], list[float | None]]:
        (renderer,) = figure.renderers
        data = renderer.data_source.data
        days = [d.astype("datetime64[D]").item() for d in data["date"]]
        return days, [None if v != v else float(v) for v in data["engagement"]]

    assert drawn() == (frame["date"].to_list(), [10.0, None, 30.0, -20.0, 90.0])
    # the ranges hold every bar, zero included, and the hover still formats dates
    x, y = figure.x_range, figure.y_range
    assert x.start < np.datetime64(first_day) < np.datetime64(frame["date"].max()) < x.end
    assert y.start < -20 and y.end > 90 and (y.reset_start, y.reset_end) == (y.start, y.end)
    hover = next(t for t in figure.tools if type(t).__name__ == "HoverTool")
    assert hover.formatters == {"@{date}": "datetime"}
    # built once (on a placeholder row), then updated in the same figure and data source
    assert len(built) == 1 and built[0].height == 1
    source = figure.renderers[0].data_source
    assert not bars.show(frame.clone())
    assert bars.show(frame.head(2).with_columns(pl.col("engagement").fill_null(5)))
    assert bars.figure is figure and figure.renderers[0].data_source is source
    assert isinstance(source, ColumnDataSource)
    assert drawn() == (frame["date"].head(2).to_list(), [10.0, 5.0])
    assert (y.start, y.end) == (0.0, 10.5)
    # no rows: no bars, a range of zero to one
    assert bars.show(frame.head(0))
    assert drawn() == ([], [])
    assert (y.start, y.end) == (0.0, 1.0)
    assert len(built) == 1


def test_later_builds_its_sections_once_and_shows_figures_only_once_built() -> None:
    from bokeh.document import Document

    calls = {"build": 0}
    figures = {"value": 1}
    table = kit.table_widget(pl.DataFrame({"value": [0]}))

    def build() -> list[object]:
        calls["build"] += 1
        return [table]

    def show() -> None:
        kit.show_rows(table, pl.DataFrame({"value": [figures["value"]]}))

    later = kit.Later(build, show)
    later.refresh()  # before the page is drawn: nothing is built or computed
    assert not later.built and calls["build"] == 0
    assert table.value["value"].tolist() == [0]

    # drawn (outside a server: at once): built, with the figures of the moment
    later.pane.get_root(Document())
    assert later.built and calls["build"] == 1
    assert table.value["value"].tolist() == [1]

    # a filter change reaches the built sections; drawing again builds nothing new
    figures["value"] = 2
    later.refresh()
    assert table.value["value"].tolist() == [2]
    later.pane.get_root(Document())
    assert calls["build"] == 1


def test_show_rows_sends_only_rows_that_changed() -> None:
    first = pl.DataFrame({"agency": ["CDC", "FDA"], "value": [1.5, None]})
    table = kit.table_widget(first)
    assert not kit.show_rows(table, first.clone())  # the same rows: nothing sent
    changed = first.with_columns(pl.col("value").fill_null(2.0))
    assert kit.show_rows(table, changed)
    assert table.value["value"].tolist() == [1.5, 2.0]
    assert not kit.show_rows(table, changed)
    assert kit.show_rows(table, first.head(1))
    assert table.value["agency"].tolist() == ["CDC"]
    # rows put in some other way: the same frame is sent again
    table.value = first.to_pandas()
    assert kit.show_rows(table, first.head(1))
    assert table.value["agency"].tolist() == ["CDC"]


def test_numbers_shown_as_text_keep_the_numbers_and_the_tables_columns() -> None:
    frame = pl.DataFrame({"label": ["a", "b", "c"], "value": [1234.0, None, -0.0125]})
    shown = kit.with_texts(frame, {"value": lambda v: f"{v:,.1f}"})
    assert shown.columns == ["label", "value", "value_text"]
    assert shown["value"].equals(frame["value"])  # still numbers: the table sorts by them
    assert shown["value_text"].to_list() == ["1,234.0", "", "-0.0"]
    assert (
        kit.with_texts(frame.clear(), {"value": "{:.0f}".format})["value_text"].dtype == pl.String
    )
    # the cell shows the text, escaped (Bokeh's template: <%- %>)
    assert kit.shown_as_text("value").template == "<%- value_text %>"
    # a new format for the same columns is new rows for the table
    table = kit.table_widget(
        shown, formatters={"value": kit.shown_as_text("value")}, hidden_columns=["value_text"]
    )
    assert kit.show_rows(table, kit.with_texts(frame, {"value": lambda v: f"{v:.3%}"}))
    assert table.value["value_text"].tolist() == ["123400.000%", "", "-1.250%"]


def test_a_table_paginated_on_the_server_is_one_page_high_whatever_it_shows() -> None:
    rows = pl.DataFrame({"value": [1, 2, 3]})
    table = kit.table_widget(rows, page_size=10)
    assert table.height == kit.TABLE_CHROME_PX + 10 * kit.TABLE_ROW_PX
    assert kit.table_widget(rows).height == kit.TABLE_CHROME_PX + 10 * kit.TABLE_ROW_PX
    assert kit.table_widget(rows, page_size=25).height == kit.TABLE_CHROME_PX + 25 * 29
    # a height asked for is kept; a table paginated in the browser, or not at all, grows
    assert kit.table_widget(rows, height=200).height == 200
    assert kit.table_widget(rows, pagination=None).height is None
    assert kit.table_widget(rows, pagination="local").height is None
    # a table without rows says so in its body (the configuration its browser model gets)
    assert table.get_root().configuration["placeholder"] == kit.NO_ROWS
    kept = kit.table_widget(rows, configuration={"placeholder": "none", "movableColumns": False})
    assert kept.get_root().configuration["placeholder"] == "none"
    assert kept.get_root().configuration["movableColumns"] is False


def test_every_pages_filters_are_acted_on_without_panels_wait(world_lake: str) -> None:
    assert kit.Select._priority_changes == ["value"]
    found = {}
    for slug, factory in DASHBOARDS.items():
        selects = factory(Lake(world_lake)).select(pn.widgets.Select)
        found[slug] = len(selects)
        assert all(isinstance(s, kit.Select) for s in selects), slug
    # every page has its filters (the check above is not vacuous)
    assert all(n >= 2 for n in found.values()), str(found)
