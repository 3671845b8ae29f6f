"""The Operations page: collection runs against the SLO, freshness, quality, quarantine, quotas.

The page only reads and wires; every figure is computed in
:mod:`hhs_platform.dashboards.operations_figures`. Text from the platforms (handles inside
account keys, quarantine reasons) is only shown in Tabulator cells, which escape it, and on chart
axes, which Bokeh draws as text.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Protocol

import panel as pn
import polars as pl
from bokeh.models.widgets.tables import DateFormatter, NumberFormatter

from hhs_platform.dashboards import kit
from hhs_platform.dashboards import operations_figures as of
from hhs_platform.lake.store import Lake
from hhs_platform.ops import slo as slos
from hhs_platform.settings import Settings

SLUG = "operations"
TITLE = "Operations"

FETCH_LOG = "bronze/fetch_log"
RAW = "bronze/raw_responses"
SCORECARD = "quality/scorecard"
FLAGS = "quality/flags"
QUARANTINE = "quarantine/rows"
ACCOUNTS = "silver/accounts"
SLO = slos.SLO_TABLE

_COUNT = NumberFormatter(format="0,0")
_PCT = NumberFormatter(format="0.0%")
_PCT2 = NumberFormatter(format="0.00%")
_SCORE = NumberFormatter(format="0.00")
_SECONDS = NumberFormatter(format="0,0.0")
_TIME = DateFormatter(format="%Y-%m-%d %H:%M:%S")
_DATE = DateFormatter(format="%Y-%m-%d")

RUN_TITLES = {
    "run_id": "Run",
    "started_at": "Started (UTC)",
    "finished_at": "Finished (UTC)",
    "duration_s": "Duration (s)",
    "platforms": "Platforms",
    "accounts": "Accounts",
    "complete": "Complete",
    "partial": "Partial",
    "failed": "Failed",
    "success_rate": "Success rate",
    "meets_slo": "Meets SLO",
}
SCORE_TITLES = {
    "account_key": "Account",
    "agency": "Agency",
    "platform": "Platform",
    "date": "Day (UTC)",
    "completeness": "Completeness",
    "freshness": "Freshness",
    "validity": "Validity",
    "drift": "Drift",
    "overall": "Overall",
    "flags": "Flags",
}
SLO_TITLES = {
    "slo": "SLO",
    "scope": "Scope",
    "target": "Target",
    "date": "Last day (UTC)",
    "value": "Last day",
    "window_value": "Window",
    "window_total": "Events in window",
    "budget_burned": "Budget burned",
    "status": "Status",
}
QUARANTINE_TITLES = {"rule": "Rule", "table": "Table", "platform": "Platform", "rows": "Rows"}
FLAG_TITLES = {"rule": "Rule", "severity": "Severity", "platform": "Platform", "flags": "Flags"}
HEADROOM_TITLES = {
    "platform": "Platform",
    "endpoint": "Endpoint",
    "as_of": "Reported (UTC)",
    "limit": "Limit",
    "remaining": "Remaining",
    "reset_at": "Resets (UTC)",
    "used_pct": "Used (%)",
    "headroom": "Headroom",
}


@dataclass(frozen=True)
class OperationsData:
    """Everything the page shows, read once per session (restricted to the viewer's agencies)."""

    fetch_log: pl.DataFrame
    scorecard: pl.DataFrame
    quarantine: pl.DataFrame
    flags: pl.DataFrame
    headroom: pl.DataFrame
    quota: of.QuotaDay
    slo: pl.DataFrame
    #: The platforms that have fetches or scores, and the latest day of either.
    platforms: list[str]
    latest: dt.date | None

    @property
    def is_empty(self) -> bool:
        """True before the first collection has logged a fetch."""
        return self.fetch_log.is_empty() and self.scorecard.is_empty()


@dataclass(frozen=True)
class PlatformRows:
    """The rows of one platform (every platform's for :data:`of.ALL`)."""

    fetch_log: pl.DataFrame
    scorecard: pl.DataFrame
    quarantine: pl.DataFrame
    flags: pl.DataFrame
    headroom: pl.DataFrame


@dataclass(frozen=True)
class WindowFigures:
    """The figures of one platform and window: all of a :class:`View` but the heatmap's."""

    start: dt.date | None
    runs: pl.DataFrame
    budget: of.ErrorBudget
    #: The window's scorecard rows, which the heatmap colours, and each account's mean scores
    #: over them (:func:`of.account_means`), which pick the accounts drawn.
    scored: pl.DataFrame
    means: pl.DataFrame
    scores: pl.DataFrame
    quarantine: pl.DataFrame
    flags: pl.DataFrame
    headroom: pl.DataFrame


class Remember(Protocol):
    """``remember(choice, compute)``: ``compute()``, possibly kept for other sessions."""

    def __call__[T](self, choice: Hashable, compute: Callable[[], T]) -> T: ...


def platform_rows(data: OperationsData, platform: str) -> PlatformRows:
    """The rows of ``platform`` (:data:`of.ALL`: every row)."""
    return PlatformRows(
        fetch_log=of.select_platform(data.fetch_log, platform),
        scorecard=of.select_platform(data.scorecard, platform),
        quarantine=of.select_platform(data.quarantine, platform),
        flags=of.select_platform(data.flags, platform),
        headroom=of.select_platform(data.headroom, platform),
    )


def window_figures(
    rows: PlatformRows, latest: dt.date | None, window: str, slo: float
) -> WindowFigures:
    """The runs, budget, scores, quarantine and flags of a window of a platform's rows."""
    start = of.window_start(latest, of.WINDOWS[window])
    runs = of.run_summary(of.in_window(rows.fetch_log, "started_at", start), slo)
    scored = of.in_window(rows.scorecard, "date", start)
    quarantine = of.in_runs_or_window(
        rows.quarantine, runs["run_id"].to_list(), "quarantined_at", start
    )
    return WindowFigures(
        start=start,
        runs=runs,
        budget=of.error_budget(runs, slo),
        scored=scored,
        means=of.account_means(scored),
        scores=of.latest_scorecard(scored),
        quarantine=of.quarantine_by_rule(quarantine),
        flags=of.flags_by_rule(of.in_window(rows.flags, "observed_at", start)),
        headroom=rows.headroom,
    )


def with_heatmap(figures: WindowFigures, metric: str) -> View:
    """A window's figures with the heatmap of ``metric`` (one of :data:`of.HEATMAP_METRICS`)."""
    return View(
        start=figures.start,
        runs=figures.runs,
        budget=figures.budget,
        scored=figures.scored,
        metric=metric,
        drawn=of.lowest_accounts(figures.scored, metric, of.HEATMAP_ACCOUNTS, figures.means),
        accounts=figures.means.height,
        scores=figures.scores,
        quarantine=figures.quarantine,
        flags=figures.flags,
        headroom=figures.headroom,
    )


@dataclass(frozen=True)
class View:
    """The figures shown for one choice of platform, window and heatmap colour."""

    start: dt.date | None
    runs: pl.DataFrame
    budget: of.ErrorBudget
    #: The window's scorecard rows and the heatmap's colour.
    scored: pl.DataFrame
    metric: str
    #: The heatmap's cells drawn (:func:`of.lowest_accounts`), of how many accounts scored.
    drawn: pl.DataFrame
    accounts: int
    scores: pl.DataFrame
    quarantine: pl.DataFrame
    flags: pl.DataFrame
    headroom: pl.DataFrame

    @functools.cached_property
    def cells(self) -> pl.DataFrame:
        """Every account's heatmap cells (:func:`of.heatmap_cells`), made when first asked
        for: only the table needs them, and of the window "All" of the large benchmark lake
        (2.19 M cells) they took 80 ms."""
        return of.heatmap_cells(self.scored, self.metric)

    @functools.cached_property
    def heatmap_table(self) -> pl.DataFrame:
        """The heatmap as a table (one column per day), made when first asked for: the page
        asks when its tab is open. For every account of the window "All" of the large
        benchmark lake it takes 0.4-0.5 s, and Panel 0.1-0.3 s more to take its 450 columns.
        """
        return of.heatmap_table(self.cells)


def load(lake: Lake, settings: Settings) -> OperationsData:
    """Read the columns and rows the page needs from the lake.

    Rows that belong to an account carry its agency (joined from ``silver/accounts`` where the
    table lacks it) and pass through :func:`kit.restrict`. Rate-limit budgets and quotas are
    per platform credential, shared by every agency, so they are shown as they are.
    """
    accounts = kit.read(lake, ACCOUNTS, columns=["platform", "account_id", "account_key", "agency"])
    by_key = accounts.select("account_key", "agency").unique("account_key")
    by_id = accounts.select("platform", "account_id", "agency").unique(["platform", "account_id"])

    fetch_log = kit.read(lake, FETCH_LOG, columns=list(of.FETCH_LOG_COLUMNS))
    fetch_log = kit.restrict(fetch_log.join(by_key, on="account_key", how="left"))
    scorecard = kit.restrict(kit.read(lake, SCORECARD, columns=list(of.SCORECARD_COLUMNS)))
    flags = kit.read(lake, FLAGS, columns=list(of.FLAG_COLUMNS))
    flags = kit.restrict(flags.join(by_id, on=["platform", "account_id"], how="left"))

    restricted = kit.allowed_agencies() is not None
    # The rejected row's JSON is only read when it is needed to tell the row's agency.
    columns = [c for c in of.QUARANTINE_COLUMNS if restricted or c != "row"]
    quarantine = kit.read(lake, QUARANTINE, columns=columns)
    if restricted:
        quarantine = kit.restrict(
            of.quarantine_account_ids(quarantine).join(
                by_id, on=["platform", "account_id"], how="left"
            )
        )

    headroom, quota = _budgets(lake, settings)
    # SLOs are counted over every account (like the rate-limit budgets): shown as they are.
    slo = slos.slo_summary(kit.read(lake, SLO))
    # distinct values first: the columns hold a row per fetch and per account-day
    platforms = sorted(
        set(fetch_log["platform"].unique().to_list())
        | set(scorecard["platform"].unique().to_list())
    )
    latest = of.latest_day(_max_date(fetch_log, "started_at"), _max_date(scorecard, "date"))
    return OperationsData(
        fetch_log, scorecard, quarantine, flags, headroom, quota, slo, platforms, latest
    )


def _budgets(lake: Lake, settings: Settings) -> tuple[pl.DataFrame, of.QuotaDay]:
    """Rate-limit headroom and the YouTube quota, from the latest bronze partitions only."""
    table = lake.delta(RAW)
    latest = of.latest_partitions(table.partitions()) if table is not None else {}
    keys = len(
        {
            v
            for v in (
                settings.secret("youtube_api_key"),
                *(k.get_secret_value() for k in settings.youtube_api_keys),
            )
            if v
        }
    )
    if not latest:
        return of.rate_limit_headroom(
            pl.DataFrame(schema=_raw_schema(of.RESPONSE_COLUMNS))
        ), of.quota_day(pl.DataFrame(schema=_raw_schema(of.QUOTA_COLUMNS)), keys=keys)
    where = pl.any_horizontal(
        [(pl.col("platform") == p) & (pl.col("fetched_date") == d) for p, d in latest.items()]
    )
    headroom = of.rate_limit_headroom(kit.read(lake, RAW, list(of.RESPONSE_COLUMNS), where))
    calls = pl.DataFrame(schema=_raw_schema(of.QUOTA_COLUMNS))
    if "youtube" in latest:
        # The Pacific quota day of the latest call spans at most its UTC date and the one before.
        last = latest["youtube"]
        calls = kit.read(
            lake,
            RAW,
            list(of.QUOTA_COLUMNS),
            (pl.col("platform") == "youtube")
            & pl.col("fetched_date").is_between(last - dt.timedelta(days=1), last),
        )
    return headroom, of.quota_day(calls, keys=keys)


def _raw_schema(columns: tuple[str, ...]) -> dict[str, pl.DataType]:
    from schemas import table_spec

    schema = table_spec(RAW).schema
    return {c: schema[c] for c in columns}


#: The tables the page reads (their versions key the shared caches).
_TABLES = (ACCOUNTS, FETCH_LOG, SCORECARD, FLAGS, QUARANTINE, RAW, SLO)


def page(lake: Lake | None = None) -> pn.viewable.Viewable:
    """Build the Operations page over the lake, read now.

    Args:
        lake: The lake to read; ``None`` means the lake of the settings (``HHS_LAKE_URI``).

    Returns:
        The page, or an empty state before the first collection.
    """
    pn.extension("tabulator")
    lake = lake if lake is not None else Lake()
    settings = kit.settings()
    # Shared by every session (of the same agency access) until one of the tables changes.
    scope = kit.allowed_agencies()
    data = kit.memo(lake, _TABLES, ("operations", scope), lambda: load(lake, settings))
    if data.is_empty:
        return kit.empty_state(SLUG, lake, "collection runs or quality scores")

    def remember[T](choice: Hashable, compute: Callable[[], T]) -> T:
        # each choice's figures, shared like the data they come from
        return kit.memo(lake, _TABLES, ("operations-view", scope, choice), compute)

    view = OperationsView(data, settings, remember)
    kit.once_on_screen(view.warm)
    return kit.shell(SLUG, lake, *view.body)


class _ComputeNow:
    """A :class:`Remember` that keeps nothing."""

    def __call__[T](self, choice: Hashable, compute: Callable[[], T]) -> T:
        return compute()


def links(settings: Settings) -> pn.pane.HTML:
    """Links to the Prefect UI and the Dask dashboard, opening in a new tab."""
    items = [("Prefect UI", settings.prefect_ui()), ("Dask dashboard", settings.dask_dashboard())]
    anchors = " · ".join(
        f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener noreferrer">'
        f"{label}</a>"
        for label, url in items
    )
    return pn.pane.HTML(f"<p>Orchestration: {anchors}</p>", sizing_mode="stretch_width")


def _heading(text: str, metric: str | None = None) -> pn.Row:
    parts: list[Any] = [pn.pane.Markdown(f"### {text}", margin=(10, 0, 0, 10))]
    if metric is not None:
        parts.append(kit.tooltip(metric))
    return pn.Row(*parts, sizing_mode="stretch_width")


def _table(
    frame: pl.DataFrame, titles: dict[str, str], formatters: dict[str, Any]
) -> pn.widgets.Tabulator:
    return kit.table_widget(frame, titles=titles, formatters=formatters)


class OperationsView:
    """The widgets, indicators, charts and tables of one session's page."""

    #: The thread of :meth:`warm`, once started.
    warming: threading.Thread | None = None

    def __init__(
        self,
        data: OperationsData,
        settings: Settings,
        remember: Remember | None = None,
    ) -> None:
        """``remember(choice, compute)`` may keep each choice's figures for other sessions."""
        self.data = data
        self.slo = settings.slo_success_rate
        self._remember: Remember = _ComputeNow() if remember is None else remember
        self.platform = kit.Select(
            label="Platform", options=[of.ALL, *data.platforms], value=of.ALL, width=200
        )
        self.window = kit.Select(
            label="Window", options=list(of.WINDOWS), value=of.DEFAULT_WINDOW, width=160
        )
        self.metric = kit.Select(
            label="Heatmap colour",
            options={kit.metric_label(m): m for m in of.HEATMAP_METRICS},
            value="freshness",
            width=200,
        )
        for widget, name in ((self.platform, "platform"), (self.window, "window")):
            kit.sync_url(widget, name)
        kit.sync_url(self.metric, "metric")

        number: dict[str, Any] = {"font_size": "22pt", "title_size": "11pt", "width": 190}
        self.success = pn.indicators.Number(label="Success rate", format="{value:.2f}%", **number)
        self.slo_number = pn.indicators.Number(
            label="SLO", value=100 * self.slo, format="{value:.2f}%", **number
        )
        self.runs_ok = pn.indicators.Number(label="Runs meeting SLO", format="{value}", **number)
        self.burned = pn.indicators.Number(
            label="Error budget burned",
            format="{value:.0f}%",
            colors=[(100, kit.GOOD), (float("inf"), kit.BAD)],
            **number,
        )
        self.summary = pn.pane.Markdown(sizing_mode="stretch_width")
        # drawn once, then updated in place on each filter change
        self.runs_chart = RunsChart(sizing_mode="stretch_width", min_height=320)
        # built, computed and drawn once the page has shown the runs
        self.lower = kit.Later(self._details, self._show_details)

        view = self.compute()
        self.runs_table = _table(
            view.runs,
            RUN_TITLES,
            {
                "started_at": _TIME,
                "finished_at": _TIME,
                "duration_s": _SECONDS,
                "success_rate": _PCT2,
                "accounts": _COUNT,
            },
        )
        self.view = view
        self.show(view)
        for widget in (self.platform, self.window, self.metric):
            widget.param.watch(self.update, "value")

        self.body: list[pn.viewable.Viewable] = [
            pn.FlexBox(self.platform, self.window),
            links(settings),
            _heading("Collection runs", "success_rate"),
            pn.FlexBox(self.success, self.slo_number, self.runs_ok, self.burned),
            self.summary,
            self.runs_chart.pane,
            self.runs_table,
            kit.export_buttons(lambda: self.view.runs, "operations-runs"),
            self.lower.pane,
        ]

    def _details(self) -> list[pn.viewable.Viewable]:
        """The sections below the runs (see :class:`kit.Later`)."""
        data, view = self.data, self.view
        self.heatmap = Heatmap(sizing_mode="stretch_width", min_height=240)
        self.heatmap_note = pn.pane.Markdown(sizing_mode="stretch_width")
        self.quota = pn.pane.Markdown(sizing_mode="stretch_width")
        # made when its tab is opened (see _show_heatmap_table)
        self.heatmap_table = _heatmap_table_widget(
            pl.DataFrame(schema={"account_key": pl.String, "platform": pl.String})
        )
        self._table_box = pn.Column(self.heatmap_table, sizing_mode="stretch_width")
        self.scores_table = _table(
            view.scores.drop("account_id"),
            SCORE_TITLES,
            dict.fromkeys(of.SCORE_COLUMNS, _SCORE) | {"date": _DATE},
        )
        self.quarantine_table = _table(view.quarantine, QUARANTINE_TITLES, {"rows": _COUNT})
        self.flags_table = _table(view.flags, FLAG_TITLES, {"flags": _COUNT})
        self.headroom_table = _table(
            view.headroom,
            HEADROOM_TITLES,
            {"as_of": _TIME, "reset_at": _TIME, "headroom": _PCT, "limit": _COUNT},
        )
        self.heatmap_tabs = pn.Tabs(
            ("Heatmap", self.heatmap.pane),
            ("As a table", self._table_box),
            # the table (a column per day) is made and drawn only when its tab is opened
            dynamic=True,
            sizing_mode="stretch_width",
        )
        self.heatmap_tabs.param.watch(lambda _: self._show_heatmap_table(opened=True), "active")
        self.slo_table = _table(
            _slo_shown(data.slo),
            SLO_TITLES,
            {
                "target": _PCT2,
                "value": _PCT2,
                "window_value": _PCT2,
                "window_total": _COUNT,
                "budget_burned": _PCT,
                "date": _DATE,
            },
        )
        return [
            _heading("SLOs and error budgets"),
            pn.pane.Markdown(_slo_note(data.slo), sizing_mode="stretch_width"),
            self.slo_table,
            _heading("Freshness and coverage", "freshness"),
            pn.FlexBox(self.metric),
            self.heatmap_note,
            self.heatmap_tabs,
            _heading("Quality scorecard (latest day per account)", "overall"),
            self.scores_table,
            kit.export_buttons(lambda: self.view.scores, "operations-scorecard", table=SCORECARD),
            _heading("Quarantined rows by rule"),
            self.quarantine_table,
            kit.export_buttons(lambda: self.view.quarantine, "operations-quarantine"),
            _heading("Quality flags by rule and severity"),
            self.flags_table,
            kit.export_buttons(lambda: self.view.flags, "operations-flags"),
            _heading("Rate-limit and quota headroom"),
            self.headroom_table,
            self.quota,
        ]

    def compute(
        self, platform: str | None = None, window: str | None = None, metric: str | None = None
    ) -> View:
        """The figures of the current platform, window and heatmap colour (or of those given).

        Kept in layers, so that a change recomputes only what it moves: a platform's rows, the
        figures of its window, and the heatmap of a colour. A new heatmap colour then only
        colours the window's scores again.
        """
        platform = platform if platform is not None else self.platform.value
        window = window if window is not None else self.window.value
        metric = metric if metric is not None else self.metric.value
        slo = self.slo
        figures = self._remember(
            ("window", platform, window, slo),
            lambda: window_figures(
                self._remember(("platform", platform), lambda: platform_rows(self.data, platform)),
                self.data.latest,
                window,
                slo,
            ),
        )
        return self._remember(
            ("view", platform, window, metric, slo), lambda: with_heatmap(figures, metric)
        )

    def warm(self) -> None:
        """Compute, in the background, the other windows of the platform and colour shown,
        then the window and colour shown of every other platform.

        The window "All" of the large benchmark lake takes 1.5-2.5 s the first time (every run's
        summary, every account's scores), where a change otherwise takes a tenth of that. A
        platform's rows took 20-100 ms to select (five tables of up to 2.19 M rows), and its
        first choice 250-300 ms in Chromium. Kept for every session like the rest
        (``remember``); a viewer who picks a window or a platform meanwhile waits for the same
        computation, not a second one.
        """
        platform, window, metric = self.platform.value, self.window.value, self.metric.value
        windows = [
            (f"the window {w}", functools.partial(self.compute, platform, w, metric))
            for w in of.WINDOWS
            if w != window
        ]
        platforms = [
            (f"the platform {p}", functools.partial(self.compute, p, window, metric))
            for p in self.platform.options
            if p != platform
        ]
        self.warming = kit.in_background("operations-warm-up", windows + platforms)

    def update(self, *_: Any) -> None:
        """Recompute every figure for the current widget values and show them."""
        self.view = self.compute()
        self.show(self.view)

    def show(self, view: View) -> None:
        """Put the figures into the indicators, charts and tables."""
        budget, start = view.budget, view.start
        rate, burned = budget.success_rate, budget.burned
        self.success.value = 100 * rate if rate is not None else 0.0
        self.runs_ok.value = budget.runs_meeting_slo
        finite = burned is not None and burned != float("inf")
        self.burned.value = 100 * burned if finite and burned is not None else 0.0
        since = f"since **{start}**" if start is not None else "over every run"
        self.summary.object = (
            f"**{budget.runs:,}** runs {since}: **{budget.fetches:,}** account fetches, "
            f"**{budget.succeeded:,}** complete or partial, **{budget.failed:,}** failed. "
            f"The SLO of {self.slo:.1%} allows {budget.allowed_failures:,.1f} failed fetches "
            f"over them" + (f"; {burned:.0%} of that error budget is burned." if finite else ".")
        )
        self.runs_chart.show((view.runs, self.slo))
        kit.show_rows(self.runs_table, view.runs)
        self.lower.refresh()

    def _show_details(self) -> None:
        view = self.view
        self.heatmap.show((view.drawn, view.metric))
        accounts, drawn = view.accounts, view.drawn["account_key"].n_unique()
        self.heatmap_note.object = (
            f"Showing the {drawn} of {accounts} accounts with the lowest mean "
            f"{kit.metric_label(view.metric).lower()}; *As a table* lists every account."
            if drawn < accounts
            else ""
        )
        self._show_heatmap_table()
        kit.show_rows(self.scores_table, view.scores.drop("account_id"))
        kit.show_rows(self.quarantine_table, view.quarantine)
        kit.show_rows(self.flags_table, view.flags)
        kit.show_rows(self.headroom_table, view.headroom)
        self.quota.object = _quota_text(self.data.quota)

    def _show_heatmap_table(self, *, opened: bool = False) -> None:
        """The heatmap as a table, when its tab is the one open.

        When the tab has just been opened, the tabs have drawn the table it held; a new table,
        made with its rows, takes its place (rows sent to a table the browser was still
        building were sometimes not shown).
        """
        if self.heatmap_tabs.active != 1:
            return
        table = self.view.heatmap_table
        if opened:
            self.heatmap_table = _heatmap_table_widget(table)
            self._table_box.objects = [self.heatmap_table]
            return
        days = [c for c in table.columns if c not in ("account_key", "platform")]
        kit.set_changed(self.heatmap_table, formatters=dict.fromkeys(days, _SCORE))
        kit.show_rows(self.heatmap_table, table)


def _heatmap_table_widget(table: pl.DataFrame) -> pn.widgets.Tabulator:
    days = [c for c in table.columns if c not in ("account_key", "platform")]
    return _table(
        table, {"account_key": "Account", "platform": "Platform"}, dict.fromkeys(days, _SCORE)
    )


def _slo_shown(summary: pl.DataFrame) -> pl.DataFrame:
    """The SLO table's columns; an infinite burn (nothing allowed, something failed) as empty."""
    burned = pl.col("budget_burned")
    return summary.select(
        *(c for c in SLO_TITLES if c != "budget_burned"),
        pl.when(burned.is_infinite()).then(None).otherwise(burned).alias("budget_burned"),
    ).select(list(SLO_TITLES))


def _slo_note(summary: pl.DataFrame) -> str:
    if summary.is_empty():
        return "No SLO rows yet: the collection flow computes them after each run (`hhs slo`)."
    days = int(summary["window_days"].max())  # type: ignore[arg-type]
    spent = summary.filter(pl.col("status") == "budget spent")
    head = (
        f"Each objective on its latest day and over the {days} days before it "
        "(whatever the platform and window chosen above). "
    )
    if spent.is_empty():
        return head + "No error budget is spent."
    names = ", ".join(f"{r['slo']} ({r['scope']})" for r in spent.iter_rows(named=True))
    return head + f"**Error budget spent:** {names}; see docs/operations/slos.md."


def _max_date(frame: pl.DataFrame, column: str) -> dt.date | None:
    if frame.is_empty():
        return None
    value = frame[column].max()
    if isinstance(value, dt.datetime):
        return value.date()
    return value if isinstance(value, dt.date) else None


def _quota_text(quota: of.QuotaDay) -> str:
    if quota.day is None:
        return "**YouTube quota:** no YouTube API calls archived yet."
    share = quota.used_share
    return (
        f"**YouTube quota** on {quota.day} (Pacific time, the latest day with calls): "
        f"**{quota.units_used:,}** of {quota.daily_units * quota.keys:,} units used "
        f"({quota.keys} key{'s' if quota.keys != 1 else ''} × {quota.daily_units:,}; "
        f"{share:.1%} used, {quota.units_left:,} left) by {quota.calls:,} API calls."
        if share is not None
        else ""
    )


class RunsChart(kit.LiveFigure):
    """The success rate of each run, with the SLO as a dashed line.

    Drawn once with Bokeh, then updated in its data source, its y range and its title (see
    :class:`kit.LiveFigure`). Through HoloViews each change cost 60-100 ms, more for the window
    "All".
    """

    def __init__(self, **pane_options: Any) -> None:
        from bokeh.models import ColumnDataSource, HoverTool, Range1d
        from bokeh.models.annotations import Span

        self.source = ColumnDataSource({"started_at": [], "success": [], "run_id": []})
        self.y_range = Range1d(start=0, end=100.5)
        self.figure = kit.live_figure(
            x_axis_type="datetime",
            y_range=self.y_range,
            height=320,
            x_axis_label="Run started (UTC)",
            y_axis_label="Success rate (%)",
        )
        self.title = self.figure.title
        colour = kit.PALETTE[4]
        self.figure.line("started_at", "success", source=self.source, color=colour, line_width=2)
        dots = self.figure.scatter(
            "started_at", "success", source=self.source, color=colour, size=7
        )
        self.target = Span(
            dimension="width", location=100.0, line_color=kit.PALETTE[5], line_dash="dashed"
        )
        self.figure.add_layout(self.target)
        self.figure.add_tools(
            HoverTool(
                renderers=[dots],
                tooltips=[
                    ("Run", "@run_id"),
                    ("Started (UTC)", "@started_at{%F %T}"),
                    ("Success rate", "@success{0.00}%"),
                ],
                formatters={"@started_at": "datetime"},
            )
        )
        self.pane = pn.pane.Bokeh(self.figure, **pane_options)

    def show(self, data: tuple[pl.DataFrame, float]) -> bool:
        """Draw the runs (``started_at``, ``success_rate`` from 0 to 1, ``run_id``) against the
        SLO.

        Returns:
            Whether the chart was drawn (``False``: it shows those runs already).
        """
        runs, slo = data
        frame = runs.select(
            "started_at", (pl.col("success_rate") * 100).alias("success"), "run_id"
        ).sort("started_at")
        return self._draw(frame, slo)

    def _put(self, frame: pl.DataFrame, slo: float) -> None:
        self.source.data = {
            "started_at": frame["started_at"]
            .dt.replace_time_zone(None)
            .to_numpy()
            .astype("datetime64[ms]"),
            "success": frame["success"].cast(pl.Float64).to_numpy(),
            "run_id": frame["run_id"].to_list(),
        }
        lowest = frame["success"].min()
        low = min(float(lowest) if lowest is not None else 100.0, 100 * slo) - 1  # type: ignore[arg-type]
        self.y_range.update(start=max(low, 0.0), end=100.5)
        self.target.location = 100 * slo
        self.title.text = f"Success rate per run (dashed: SLO {slo:.1%})"


class Heatmap(kit.LiveFigure):
    """The freshness and coverage heatmap: one cell per account and day, coloured from 0 to 1.

    Drawn once with Bokeh, then updated in its data source and ranges (:class:`kit.LiveFigure`).
    HoloViews' ``HeatMap`` grids the rows into cells again in pandas on every update: about 0.3 s
    for 40 accounts and 450 days (the window "All" of the large benchmark lake), 1 s under load.

    The cells are one image, a row per account and a column per day, which the browser colours
    (Bokeh's ``image`` glyph). Until 2026-12-02 they were one rectangle each, with the account's
    key and the day sent for every cell: the window "All" of the large benchmark lake (40
    accounts over two years, 29,200 cells) then took 677 ms in Chromium and a new colour there
    380 ms; as an image, 434 and 196 ms (``benchmarks/dashboards.py``, operations page).

    A day with no score for the account is transparent; a score that cannot be judged (null) is
    grey. The hover reads the day, the account and the value under the pointer.
    """

    #: Days of one cell (ms), and the figure's height: a header, then rows of 22 px.
    DAY_MS = 86_400_000
    HEADER_PX, ROW_PX, MAX_PX = 140, 22, 1400
    #: The image's values outside the scores' range (0 to 1, by the scorecard's contract): where
    #: the account has no score that day (drawn transparent), and where its score cannot be
    #: judged (null, grey). Not NaN: the hover would show "NaN" without asking its formatter.
    NO_SCORE, NOT_JUDGED = -1.0, 2.0

    def __init__(self, **pane_options: Any) -> None:
        from bokeh.models import (
            ColumnDataSource,
            CustomJSHover,
            FactorRange,
            HoverTool,
            LinearColorMapper,
            NumeralTickFormatter,
            Range1d,
        )
        from bokeh.models.annotations import ColorBar
        from bokeh.palettes import Cividis256

        self.source = ColumnDataSource(self._image_data())
        mapper = LinearColorMapper(
            palette=Cividis256,
            low=0.0,
            high=1.0,
            low_color="rgba(0, 0, 0, 0)",  # NO_SCORE
            high_color="#f0f0f0",  # NOT_JUDGED
        )
        self.x_range, self.y_range = Range1d(start=0, end=self.DAY_MS), FactorRange()
        self.figure = kit.live_figure(
            x_axis_type="datetime",
            x_range=self.x_range,
            y_range=self.y_range,
            height=self.HEADER_PX + self.ROW_PX,
            x_axis_label="Day (UTC)",
            y_axis_label="Account",
        )
        self.title = self.figure.title
        # a row per account: row j of the image is the range's factor j (y from j to j + 1)
        self.figure.image(
            image="image", x="x", y="y", dw="dw", dh="dh", source=self.source, color_mapper=mapper
        )
        self.colorbar = ColorBar(
            color_mapper=mapper, formatter=NumeralTickFormatter(format="0.0"), width=12
        )
        self.figure.add_layout(self.colorbar, "right")
        account = CustomJSHover(
            args={"y_range": self.y_range},
            code="return y_range.factors[special_vars.image_index.j] ?? '';",
        )
        value = CustomJSHover(
            code=(
                f"if (value < {self.NO_SCORE / 2}) return 'no score';"
                f"if (value > {(1 + self.NOT_JUDGED) / 2}) return 'cannot be judged';"
                "return value.toFixed(3);"
            ),
        )
        self.hover = HoverTool(formatters={"$x": "datetime", "$y": account, "@image": value})
        self.figure.add_tools(self.hover)
        self.figure.xaxis.major_label_orientation = 0.785  # 45 degrees
        self.figure.grid.visible = False
        self.pane = pn.pane.Bokeh(self.figure, **pane_options)

    @staticmethod
    def _image_data(image: Any = None, first_ms: int = 0, accounts: int = 0) -> dict[str, list]:
        """The image source's columns: one image from day ``first_ms``, or none."""
        if image is None:
            return {"image": [], "x": [], "y": [], "dw": [], "dh": []}
        days = image.shape[1]
        return {
            "image": [image],
            "x": [first_ms],
            "y": [0],
            "dw": [days * Heatmap.DAY_MS],
            "dh": [accounts],
        }

    def show(self, data: tuple[pl.DataFrame, str]) -> bool:
        """Draw the cells (``date``, ``account_key``, ``value``) of a metric.

        Returns:
            Whether the heatmap was drawn (``False``: it shows those cells already).
        """
        cells, metric = data
        return self._draw(cells.select("date", "account_key", "value"), metric)

    def _put(self, cells: pl.DataFrame, metric: str) -> None:
        import numpy as np

        label = kit.metric_label(metric)
        dates = cells["date"]  # ISO text from of.heatmap_cells, or dates
        days = (dates.str.to_date() if dates.dtype == pl.String else dates).cast(pl.Int32)
        accounts = sorted(cells["account_key"].unique().to_list())
        self.y_range.factors = accounts
        if cells.is_empty():
            self.source.data = self._image_data()
        else:
            first, last = days.min(), days.max()
            assert isinstance(first, int) and isinstance(last, int)
            rows = cells["account_key"].cast(pl.Enum(accounts)).to_physical().to_numpy()
            image = np.full((len(accounts), last - first + 1), self.NO_SCORE)
            values = cells["value"].cast(pl.Float64).fill_null(self.NOT_JUDGED)
            image[rows, (days - first).to_numpy()] = values.to_numpy()
            start = first * self.DAY_MS  # a day's cell spans its UTC day
            self.source.data = self._image_data(image, start, len(accounts))
            self.x_range.update(start=start, end=start + image.shape[1] * self.DAY_MS)
        self.figure.height = min(self.HEADER_PX + self.ROW_PX * max(len(accounts), 1), self.MAX_PX)
        self.title.text = f"{label} per account and day (UTC)"
        self.colorbar.title = label
        self.hover.tooltips = [
            ("Day", "$x{%F}"),
            ("Account", "$y{custom}"),
            (label, "@image{custom}"),
        ]
