"""The Trends page: any metric over time by agency, platform or account, compared and explained.

The page reads and wires; every figure is computed in
:mod:`hhs_platform.dashboards.trends_figures`. Untrusted text (handles, hashtags, topics) is only
shown in Tabulator cells (escaped), in chart legends (drawn on a canvas), in picker labels that
are HTML-escaped first (the picker renders labels as HTML), or through ``kit.escape_md``.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable
from typing import Any, NamedTuple

import panel as pn
import polars as pl
from bokeh.models import NumeralTickFormatter
from bokeh.models.widgets.tables import DateFormatter, NumberFormatter

from hhs_platform.dashboards import kit
from hhs_platform.dashboards import trends_figures as tf
from hhs_platform.lake.store import Lake

SLUG = "trends"
TITLE = "Trends"

AGENCY_METRICS = "gold/agency_metrics"
DAILY = "gold/daily_account_metrics"
WEEKLY = "gold/weekly_account_metrics"
TRENDS = "gold/trends"
BOARDS = "gold/leaderboards"
SOURCES = "quality/metric_sources"
ACCOUNTS = "silver/accounts"

_COUNT = NumberFormatter(format="0,0")
_PCT = NumberFormatter(format="+0.0%")
_SHARE = NumberFormatter(format="0.0%")
_LIFT = NumberFormatter(format="0.00")
_DATE = DateFormatter(format="%Y-%m-%d")
_GRANULARITY = {"Daily": "day", "Weekly": "week"}
_PERIOD_TITLE = {"day": "Day", "week": "Week (Monday)"}
_PERIOD_NAME = {"day": "day", "week": "week (from Monday)"}
#: The figures tables' columns: the same for every metric and granularity, so that a filter
#: change sends rows only (see :func:`kit.with_texts`); the heading above names both.
_TIMELINE_TITLES = {"period_start": "Period", "label": "Series", "value": "Value"}


def page(lake: Lake | None = None) -> pn.viewable.Viewable:
    """Build the Trends page over the lake's gold tables, read now.

    Args:
        lake: The lake to read; ``None`` means the lake of the settings (``HHS_LAKE_URI``).

    Returns:
        The page, or an empty state while gold has no figures yet.
    """
    pn.extension("tabulator")
    lake = lake if lake is not None else Lake()
    view = TrendsView(lake)
    if view.empty:
        return kit.empty_state(SLUG, lake, "daily figures (gold)")
    return view.layout


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _choices(lake: Lake) -> tuple[dt.date, dt.date, list[str], list[str]] | None:
    """The first and last day, the agencies (by level) and the platforms the viewer may choose.

    ``None`` when there are no figures yet. Shared by every session of the same viewer's scope
    until the tables change: they come from a row per agency-period and per account-day.
    """
    allowed = kit.allowed_agencies()

    def compute() -> tuple[dt.date, dt.date, list[str], list[str]] | None:
        dims = kit.restrict(
            kit.read(lake, AGENCY_METRICS, columns=["period_start", "agency", "level", "platform"])
        )
        accounts = kit.restrict(kit.read(lake, DAILY, columns=["date", "platform", "agency"]))
        if dims.is_empty() and accounts.is_empty():
            return None
        dates = pl.concat(
            [dims.select(pl.col("period_start").alias("date")), accounts.select("date")]
        )["date"]
        agencies = (
            dims.select("agency", "level").unique().sort("level", "agency")["agency"].to_list()
        )
        # distinct values first: the columns hold a row per agency-period and per account-day
        platforms = sorted(
            set(dims["platform"].unique().to_list()) - {tf.ALL_PLATFORMS}
            | set(accounts["platform"].unique().to_list())
        )
        return _as_date(dates.min()), _as_date(dates.max()), agencies, platforms

    scope = None if allowed is None else tuple(sorted(allowed))
    return kit.memo(lake, (AGENCY_METRICS, DAILY), ("trends-choices", scope), compute)


class _Selection(NamedTuple):
    """What a filter change selects (see :meth:`TrendsView.selection`)."""

    metric: str
    gran: str
    series: list[str]
    #: the date range chosen
    start: dt.date
    end: dt.date
    #: the first and last period start in it, and the last day of the last period
    lo: dt.date
    hi: dt.date
    last_day: dt.date
    #: the metric's display label
    label: str


class TrendsView:
    """The widgets, chart and tables of one session's Trends page."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        choices = _choices(lake)
        self.empty = choices is None
        if choices is None:
            return
        first, last, self.agencies, self.platforms = choices
        self.links = kit.restrict(kit.read(lake, ACCOUNTS, columns=["agency", "parent_agency"]))
        self.has_agencies = bool(self.agencies)

        levels = {
            label: level
            for level, label in tf.LEVELS.items()
            if self.has_agencies or level == "account"
        }
        self.level = kit.Select(
            label="Compare",
            options=levels,
            value=tf.DEFAULT_LEVEL if self.has_agencies else "account",
            width=200,
        )
        self.metric = kit.Select(
            label="Metric",
            options={kit.metric_label(m): m for m in tf.METRICS},
            value=tf.DEFAULT_METRIC,
            width=200,
        )
        self.metric_help = kit.tooltip(tf.DEFAULT_METRIC)
        self.granularity = pn.widgets.RadioButtonGroup(
            label="Granularity",
            options=_GRANULARITY,
            value=tf.DEFAULT_GRANULARITY,
            margin=(26, 10, 10, 10),
        )
        top = tf.TOP_AGENCY if tf.TOP_AGENCY in self.agencies else None
        self.agency = kit.Select(
            label="Agency (roll-up, platforms, trending terms)",
            options=self.agencies,
            value=top or (self.agencies[0] if self.agencies else None),
            width=260,
            visible=self.has_agencies,
        )
        self.platform = kit.Select(
            label="Platform",
            options={"All platforms": tf.ALL_PLATFORMS} | {p: p for p in self.platforms},
            value=tf.ALL_PLATFORMS,
            width=180,
        )
        self.series = pn.widgets.MultiChoice(
            label=f"Series (up to {tf.MAX_SERIES})",
            options={},
            value=[],
            sizing_mode="stretch_width",
            min_width=280,
        )
        self.dates = pn.widgets.DateRangeSlider(
            label="Dates",
            start=first,
            end=max(last, first + dt.timedelta(days=1)),
            value=tf.default_range(last, first),
            step=1,
            format="%Y-%m-%d",
            sizing_mode="stretch_width",
            min_width=260,
        )
        self.compare = pn.widgets.Checkbox(
            label="Compare with the previous period of equal length", value=True
        )
        for widget, name in (
            (self.level, "level"),
            (self.metric, "metric"),
            (self.granularity, "granularity"),
            (self.agency, "agency"),
            (self.platform, "platform"),
            (self.series, "series"),
            (self.dates, "dates"),
            (self.compare, "compare"),
        ):
            kit.sync_url(widget, name)

        self.refusal = pn.pane.Alert(
            "", alert_type="warning", visible=False, sizing_mode="stretch_width"
        )
        self.chart = Chart(sizing_mode="stretch_width", min_height=420)
        self.notes = pn.pane.Markdown(sizing_mode="stretch_width")
        self.figures_heading = pn.pane.Markdown("### Figures", sizing_mode="stretch_width")
        self.timeline_table = kit.table_widget(
            self._timeline_frame(pl.DataFrame(schema=_TIMELINE_SCHEMA), "followers"),
            titles=_TIMELINE_TITLES,
            formatters={"period_start": _DATE},
            header_tooltips={"value": "The metric chosen above (see the heading)."},
            hidden_columns=["series"],
            css_classes=["trends-timeline"],
            page_size=14,
        )
        # built, computed and drawn once the page has shown the chart and its figures
        self.lower = kit.Later(self._build_lower, self._show_lower)

        self._busy = False
        self._line = pl.DataFrame(schema=_TIMELINE_SCHEMA)
        self._pop = pl.DataFrame(schema=_POP_SCHEMA)
        self._load(keep=True)
        self._check_series(list(self.series.value), fallback=None)
        self.level.param.watch(self._on_level, "value")
        for widget in (self.granularity, self.agency, self.platform):
            widget.param.watch(self._on_source, "value")
        self.series.param.watch(self._on_series, "value")
        for widget in (self.metric, self.dates, self.compare):
            widget.param.watch(self.update, "value")
        self.update()

        controls = pn.FlexBox(
            self.level,
            pn.Row(self.metric, self.metric_help),
            self.granularity,
            self.agency,
            self.platform,
        )
        self.layout = kit.shell(
            SLUG,
            lake,
            pn.pane.Markdown(
                "Any metric over time. Agencies include every agency below them; compare up to "
                f"{tf.MAX_SERIES} series. Dashed lines mark the days a metric's definition moved "
                "(see the notes under the chart).",
                sizing_mode="stretch_width",
            ),
            controls,
            self.series,
            pn.FlexBox(self.dates, self.compare),
            self.refusal,
            self.chart.pane,
            self.notes,
            self.figures_heading,
            self.timeline_table,
            kit.export_buttons(self.timeline_export, "trends", AGENCY_METRICS),
            self.lower.pane,
        )

    def _build_lower(self) -> list[pn.viewable.Viewable]:
        """Period over period, roll-up, leaderboards, trending terms (see :class:`kit.Later`)."""
        self.pop_caption = pn.pane.Markdown(sizing_mode="stretch_width")
        self.pop_table = kit.table_widget(
            self._pop_frame(pl.DataFrame(schema=_POP_SCHEMA), "followers"),
            titles={
                "label": "Series",
                "value": "This period",
                "previous": "Previous period",
                "change": "Change",
                "change_pct": "Change %",
            },
            formatters={"change_pct": _PCT},
            hidden_columns=["series"],
            css_classes=["trends-pop"],
        )
        self.pop_box = pn.Column(
            pn.pane.Markdown("### Period over period"),
            self.pop_caption,
            self.pop_table,
            kit.export_buttons(self.pop_export, "trends-period-over-period", AGENCY_METRICS),
            sizing_mode="stretch_width",
        )
        self.rollup_caption = pn.pane.Markdown(sizing_mode="stretch_width")
        self.rollup_table = kit.table_widget(
            kit.with_texts(
                pl.DataFrame(schema={"agency": pl.Utf8, "value": pl.Int64, "share": pl.Float64}),
                {"value": _count_text},
            ),
            titles={"agency": "Agency", "value": "Value", "share": "Share"},
            formatters={"share": _SHARE},
            css_classes=["trends-rollup"],
            page_size=20,
        )
        self.boards_table = kit.table_widget(
            pl.DataFrame(schema=tf.BOARD_SCHEMA),
            titles={
                "period_start": "Week (Monday)",
                "label": "Series",
                "board": "Board",
                "value": "Value",
                "rank": "Rank",
                "of": "Ranked",
            },
            formatters={"period_start": _DATE, "value": NumberFormatter(format="0.0000")},
            hidden_columns=["series"],
            css_classes=["trends-boards"],
        )
        self.trend_caption = pn.pane.Markdown(sizing_mode="stretch_width")
        trend_titles = {
            "rank": "#",
            "term": "Term",
            "lift": "Lift",
            "posts": "Posts",
            "days": "Days used",
            "best_day": "Best day",
        }
        trend_formatters = {"lift": _LIFT, "best_day": _DATE, "posts": _COUNT}
        trend_tips = {
            "lift": "(posts + 1) / (mean posts per day over the 7 days before + 1), best day.",
            "posts": "Posts using the term over the window.",
        }
        self.hashtags_table = kit.table_widget(
            pl.DataFrame(schema=tf.TRENDING_SCHEMA),
            titles=trend_titles,
            formatters=trend_formatters,
            header_tooltips=trend_tips,
            css_classes=["trends-hashtags"],
        )
        self.topics_table = kit.table_widget(
            pl.DataFrame(schema=tf.TRENDING_SCHEMA),
            titles=trend_titles,
            formatters=trend_formatters,
            header_tooltips=trend_tips,
            css_classes=["trends-topics"],
        )

        return [
            self.pop_box,
            pn.pane.Markdown("### Roll-up"),
            self.rollup_caption,
            self.rollup_table,
            pn.pane.Markdown("### Leaderboard positions (latest week)"),
            self.boards_table,
            pn.pane.Markdown("### Trending terms"),
            self.trend_caption,
            pn.FlexBox(
                pn.Column(pn.pane.Markdown("#### Hashtags"), self.hashtags_table, min_width=320),
                pn.Column(pn.pane.Markdown("#### Topics"), self.topics_table, min_width=320),
            ),
        ]

    # -- data ------------------------------------------------------------------------------
    def _agency_rows(self, where: pl.Expr) -> pl.DataFrame:
        columns = ["period_start", "agency", "level", "platform", *tf.METRICS]
        return kit.restrict(kit.read(self.lake, AGENCY_METRICS, columns=columns, where=where))

    def _load(self, keep: bool) -> None:
        """Read the rows of the level, granularity and agency / platform; refresh the picker."""
        level, gran = self.level.value, self.granularity.value
        period = pl.col("period") == gran
        self.platform.visible = level == "agency"
        if self.has_agencies:
            self.agency_frame = tf.with_series(
                self._agency_rows(period & (pl.col("platform") == self.platform.value)), "agency"
            )
        else:
            self.agency_frame = tf.with_series(pl.DataFrame(schema=_AGENCY_SCHEMA), "agency")
        if level == "agency":
            self.frame = self.agency_frame
        elif level == "platform":
            rows = self._agency_rows(
                period
                & (pl.col("agency") == self.agency.value)
                & (pl.col("platform") != tf.ALL_PLATFORMS)
            )
            self.frame = tf.with_series(rows, "platform")
        else:
            table, day = (WEEKLY, "week") if gran == "week" else (DAILY, "date")
            columns = [day, "platform", "account_id", "handle", "agency", *tf.METRICS]
            rows = kit.restrict(kit.read(self.lake, table, columns=columns))
            self.frame = tf.with_series(rows, "account")
        options = tf.series_options(self.frame)
        self._order = list(options.values())
        self.series.options = {html.escape(label): key for label, key in options.items()}
        wanted = [key for key in self.series.value if key in options.values()] if keep else []
        if not wanted:
            wanted = tf.default_series(self.frame)
        self._set_series(wanted)

    def _set_series(self, keys: list[str]) -> None:
        busy, self._busy = self._busy, True
        try:
            self.series.value = keys
        finally:
            self._busy = busy

    def _check_series(self, keys: list[str], fallback: list[str] | None) -> bool:
        message = tf.too_many_series(keys)
        self.refusal.object = message or ""
        self.refusal.visible = message is not None
        if message is not None:
            self._set_series(fallback if fallback is not None else keys[: tf.MAX_SERIES])
        return message is None

    # -- events ----------------------------------------------------------------------------
    def _on_level(self, _: Any) -> None:
        self._reload(keep=False)

    def _on_source(self, _: Any) -> None:
        self._reload(keep=True)

    def _reload(self, keep: bool) -> None:
        busy, self._busy = self._busy, True
        try:
            self.refusal.visible = False
            self._load(keep=keep)
        finally:
            self._busy = busy
        self.update()

    def _on_series(self, event: Any) -> None:
        if self._busy:
            return
        if self._check_series(list(event.new), fallback=list(event.old)):
            self.update()

    def window(self) -> tuple[dt.date, dt.date]:
        """The first and last day of the date range."""
        value: Any = self.dates.value
        return _as_date(value[0]), _as_date(value[1])

    def selection(self) -> _Selection:
        """The metric, granularity, series and dates chosen, with the periods they cover."""
        metric, gran = self.metric.value, self.granularity.value
        # the picker's order (its chips), so chips, legend and tables list the series alike
        chosen = set(self.series.value)
        series = [key for key in self._order if key in chosen]
        start, end = self.window()
        lo, hi = tf.window(gran, start, end)
        last_day = hi + dt.timedelta(days=6 if gran == "week" else 0)
        label = kit.metric_label(metric)
        return _Selection(metric, gran, series, start, end, lo, hi, last_day, label)

    def update(self, *_: Any) -> None:
        """Recompute every figure for the current widget values."""
        if self._busy:
            return
        sel = self.selection()
        metric, gran, series, label = sel.metric, sel.gran, sel.series, sel.label
        lo, hi, last_day = sel.lo, sel.hi, sel.last_day
        self.metric_help.value = f"{label}: {kit.definition(metric)}"

        self._line = tf.timeline(self.frame, metric, series, lo, hi)
        platforms = self._platforms_in_view(series)
        changes = self._changes(metric, platforms, lo, last_day)
        self._show_chart(self._line, metric, gran, changes)
        self.notes.object = self._notes(metric, platforms, changes)
        self.figures_heading.object = f"### Figures: {escape(label)} per {_PERIOD_NAME[gran]}"
        kit.show_rows(self.timeline_table, self._timeline_frame(self._line, metric))

        self.lower.refresh()

    def _show_lower(self) -> None:
        """The period over period, roll-up, leaderboards and trending terms of the selection."""
        sel = self.selection()
        metric, gran, series, label = sel.metric, sel.gran, sel.series, sel.label
        start, end, lo, hi, last_day = sel.start, sel.end, sel.lo, sel.hi, sel.last_day
        self.pop_box.visible = bool(self.compare.value)
        self._pop = tf.period_over_period(self.frame, metric, series, gran, start, end)
        plo, phi = tf.previous_window(gran, start, end)
        plast = phi + dt.timedelta(days=6 if gran == "week" else 0)
        self.pop_caption.object = (
            f"{escape(label)}: this period **{lo} to {last_day}** against the previous period "
            f"**{plo} to {plast}** ({'weeks' if gran == 'week' else 'days'} of equal number)."
        )
        kit.show_rows(self.pop_table, self._pop_frame(self._pop, metric))

        agency = self.agency.value
        if agency is not None:
            children = tf.children_of(self.links, agency)
            breakdown = tf.rollup_breakdown(self.agency_frame, metric, agency, children, lo, hi)
            scope = "all platforms" if self.platform.value == tf.ALL_PLATFORMS else "one platform"
            self.rollup_caption.object = (
                f"How **{escape(agency)}** adds up from the agencies directly below it "
                f"({escape(label)}, {lo} to {last_day}, {scope})."
            )
            kit.show_rows(self.rollup_table, kit.with_texts(breakdown, {"value": _text(metric)}))
        boards = kit.restrict(kit.read(self.lake, BOARDS))
        kit.show_rows(
            self.boards_table,
            tf.leaderboard_positions(boards, self.level.value, series, self.platform.value),
        )
        self._update_trending()

    def _update_trending(self) -> None:
        agency = self.agency.value
        trends = kit.restrict(
            kit.read(self.lake, TRENDS, columns=["date", "agency", "kind", "term", "posts", "lift"])
        )
        span = tf.trend_window(trends)
        if agency is None or span is None:
            self.trend_caption.object = "No hashtags or topics have been counted yet."
            return
        self.trend_caption.object = (
            f"The top {tf.TOP_TERMS} terms of **{escape(agency)}** (with the agencies below it) "
            f"from {span[0]} to {span[1]}, by lift: posts using the term on its best day against "
            "its mean per day over the 7 days before."
        )
        kit.show_rows(self.hashtags_table, tf.trending(trends, agency, "hashtag"))
        kit.show_rows(self.topics_table, tf.trending(trends, agency, "topic"))

    def _platforms_in_view(self, series: list[str]) -> list[str]:
        level = self.level.value
        if level == "platform":
            return series
        if level == "account":
            return sorted({key.split(":", 1)[0] for key in series})
        if self.platform.value != tf.ALL_PLATFORMS:
            return [self.platform.value]
        return self.platforms

    def _changes(
        self, metric: str, platforms: list[str], first: dt.date, last: dt.date
    ) -> pl.DataFrame:
        columns = ["platform", "endpoint", "run_id", "metric", "field", "status", "first_seen_at"]
        sources = kit.read(self.lake, SOURCES, columns=columns)
        changes = tf.definition_changes(sources, metric, platforms)
        return changes.filter(pl.col("date").is_between(first, last))

    def _notes(self, metric: str, platforms: list[str], changes: pl.DataFrame) -> str:
        with_values = None
        if metric == "views":
            have = kit.read(
                self.lake,
                AGENCY_METRICS,
                columns=["platform"],
                where=pl.col("views").is_not_null() & (pl.col("platform") != tf.ALL_PLATFORMS),
            )
            with_values = have["platform"].unique().to_list()
        lines = [f"- {escape(n)}" for n in tf.definition_notes(metric, platforms, with_values)]
        lines += [
            f"- Definition change (dashed line): {escape(tf.change_sentence(row))}"
            for row in changes.iter_rows(named=True)
        ]
        return "**About this metric**\n\n" + "\n".join(lines)

    def _show_chart(
        self, line: pl.DataFrame, metric: str, gran: str, changes: pl.DataFrame
    ) -> None:
        """Draw the series, and the days their metric's definition changed, into the chart."""
        self.chart.show(line, metric, gran, changes["date"].unique().sort())

    # -- exports ---------------------------------------------------------------------------
    @staticmethod
    def _timeline_frame(line: pl.DataFrame, metric: str) -> pl.DataFrame:
        """The figures table's rows: the timeline's, its values written as ``metric``'s."""
        shown = line.select("period_start", "label", "value", "series")
        return kit.with_texts(shown, {"value": _text(metric)})

    @staticmethod
    def _pop_frame(pop: pl.DataFrame, metric: str) -> pl.DataFrame:
        """The period-over-period table's rows, its values and change written as ``metric``'s."""
        change = _rate_text if metric in tf.RATES else _signed_text
        texts = {"value": _text(metric), "previous": _text(metric), "change": change}
        return kit.with_texts(pop, texts)

    def timeline_export(self) -> pl.DataFrame:
        """The figures in view: period start, series key and label, and the metric's value."""
        return self._line.select(
            "period_start", "series", "label", pl.col("value").alias(self.metric.value)
        )

    def pop_export(self) -> pl.DataFrame:
        """The period-over-period table in view."""
        return self._pop


def escape(text: str | None) -> str:
    """Text made inert inside Markdown (see :func:`kit.escape_md`)."""
    return kit.escape_md(text)


def _count_text(value: float) -> str:
    return f"{value:,.0f}"


def _signed_text(value: float) -> str:
    return f"{value:+,.0f}"


def _rate_text(value: float) -> str:
    return f"{value:.3%}"


def _text(metric: str) -> Callable[[float], str]:
    """How the tables write ``metric``'s values: a rate, a signed change or a count."""
    if metric in tf.RATES:
        return _rate_text
    if metric == "followers_change":
        return _signed_text
    return _count_text


_TIMELINE_SCHEMA = {
    "period_start": pl.Date,
    "series": pl.Utf8,
    "label": pl.Utf8,
    "value": pl.Float64,
}
_POP_SCHEMA = {
    "series": pl.Utf8,
    "label": pl.Utf8,
    "value": pl.Float64,
    "previous": pl.Float64,
    "change": pl.Float64,
    "change_pct": pl.Float64,
}
_AGENCY_SCHEMA = {
    "period_start": pl.Date,
    "agency": pl.Utf8,
    "level": pl.Int64,
    "platform": pl.Utf8,
    **dict.fromkeys(tf.METRICS, pl.Int64),
    "engagement_rate": pl.Float64,
}


__all__ = ["SLUG", "TITLE", "TrendsView", "page"]


class Chart(kit.LiveFigure):
    """The trends chart: a line with markers per series, and a dashed line on each day a
    metric's definition changed. Drawn once with Bokeh, then updated in its data sources.

    HoloViews took 150-320 ms a change to patch its overlay of 13 elements on the large benchmark
    lake, half of it walking every model of the page again (see :class:`kit.LiveFigure`); here a
    change sets the data of at most :data:`tf.MAX_SERIES` lines, their legend labels and the
    axes' labels. Series text (handles, agency names) is drawn on the canvas, never as HTML.
    """

    def __init__(self, **pane_options: Any) -> None:
        from bokeh.models import ColumnDataSource, HoverTool
        from bokeh.models.annotations import Legend, LegendItem

        self.figure = kit.live_figure(x_axis_type="datetime", height=420)
        self.title = self.figure.title
        self.formatter = NumeralTickFormatter(format="0,0")
        self.figure.yaxis.formatter = self.formatter
        self.sources = []
        self.items = []
        markers: list[Any] = []
        for i in range(tf.MAX_SERIES):
            source = ColumnDataSource({"period_start": [], "value": [], "label": []})
            colour = kit.PALETTE[i % len(kit.PALETTE)]
            line = self.figure.line(
                "period_start", "value", source=source, color=colour, line_width=2
            )
            # markers keep a series with one period visible (a line needs two points)
            dots = self.figure.scatter("period_start", "value", source=source, color=colour, size=6)
            self.sources.append(source)
            drawn: list[Any] = [line, dots]
            self.items.append(LegendItem(renderers=drawn, visible=False))
            markers.append(dots)
        self.changes = ColumnDataSource({"day": []})
        self.figure.vspan(
            x="day", source=self.changes, line_color="#444444", line_dash="dashed", line_width=1
        )
        self.legend = Legend(ncols=2, location="center")
        self.legend.items = list(self.items)
        self.figure.add_layout(self.legend, "below")
        self.hover = HoverTool(renderers=markers, formatters={"@period_start": "datetime"})
        self.figure.add_tools(self.hover)
        self.pane = pn.pane.Bokeh(self.figure, **pane_options)

    def show(self, line: pl.DataFrame, metric: str, gran: str, changed: pl.Series) -> bool:
        """Draw ``line`` (``series``, ``label``, ``period_start``, ``value``: one series per
        ``series``, in order) of ``metric`` per ``gran``, with a dashed line on each ``changed``
        day.

        Returns:
            Whether the chart was drawn (``False``: it shows that already).
        """
        line = line.select("series", "label", "period_start", "value")
        return self._draw(line, metric, gran, changed)

    def _put(self, line: pl.DataFrame, metric: str, gran: str, changed: pl.Series) -> None:
        import numpy as np
        from bokeh.core.properties import value

        label = kit.metric_label(metric)
        groups = list(line.group_by("series", maintain_order=True))[: tf.MAX_SERIES]
        for i, (source, item) in enumerate(zip(self.sources, self.items, strict=True)):
            if i < len(groups):
                (key,), group = groups[i]
                points = group.drop_nulls("value")
                name = group["label"][0]
                name = str(name if name is not None else key)
                source.data = {
                    "period_start": points["period_start"].to_numpy().astype("datetime64[ms]"),
                    "value": points["value"].cast(pl.Float64).to_numpy(),
                    "label": [name] * points.height,
                }
                item.label = value(name)  # text, not a column of the source
            else:
                source.data = {
                    "period_start": np.array([], "datetime64[ms]"),
                    "value": [],
                    "label": [],
                }
            item.visible = i < len(groups)
            for renderer in item.renderers:
                renderer.visible = i < len(groups)
        self.changes.data = {"day": changed.to_numpy().astype("datetime64[ms]")}
        self.title.text = f"{label} per {'week' if gran == 'week' else 'day'}"
        self.figure.xaxis.axis_label = _PERIOD_TITLE[gran]
        self.figure.yaxis.axis_label = label
        self.formatter.format = "0.00%" if metric in tf.RATES else "0,0"
        self.hover.tooltips = [
            ("Series", "@label"),
            (_PERIOD_TITLE[gran], "@period_start{%F}"),
            (label, "@value{" + self.formatter.format + "}"),
        ]
