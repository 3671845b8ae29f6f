"""The Anomalies page: anomaly events with filters, each drillable to its series and posts.

The page only wires widgets to :mod:`hhs_platform.dashboards.anomalies_figures`. Sentences,
handles and post texts are untrusted (sentences carry handles): they are shown in Tabulator cells,
which escape them, or through ``kit.escape_md``; post links are kept only when http(s).
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import holoviews as hv
import pandas as pd
import panel as pn
import polars as pl
from bokeh.models.widgets.tables import DateFormatter, NumberFormatter

from hhs_platform.dashboards import anomalies_figures as af
from hhs_platform.dashboards import kit
from hhs_platform.lake.store import Lake

SLUG = "anomalies"
TITLE = "Anomalies"

_EVENT_TITLES = {
    "date": "Date",
    "end_date": "Last day",
    "days": "Days",
    "agency": "Agency",
    "handle": "Handle",
    "platform": "Platform",
    "kind": "Kind",
    "metric": "Metric",
    "value": "Value",
    "baseline": "Baseline",
    "change": "Change",
    "change_pct": "Change %",
    "confidence": "Confidence",
    "sentence": "What happened",
}
_POST_TITLES = {
    "created_at": "Published (UTC)",
    "post_type": "Type",
    "text": "Text",
    "url": "Link",
    "likes": "Likes",
    "reposts": "Reposts",
    "replies": "Replies",
    "quotes": "Quotes",
    "engagement": "Engagement",
}
_SERIES_TITLES = {
    "date": "Date",
    "value": "Value",
    "in_event": "Event day",
    "expected": "Expected",
}
_DATE = DateFormatter(format="%Y-%m-%d")
_COUNT = NumberFormatter(format="0,0", nan_format="–")
_FIGURE = NumberFormatter(format="0,0.[00]", nan_format="–")
_SIGNED = NumberFormatter(format="+0,0.[00]", nan_format="–")
_PCT = NumberFormatter(format="+0.0", nan_format="–")
_CONF = NumberFormatter(format="0.00")
_EVENT_FORMATTERS: dict[str, Any] = {
    "date": _DATE,
    "end_date": _DATE,
    "value": _FIGURE,
    "baseline": _FIGURE,
    "change": _SIGNED,
    "change_pct": _PCT,
    "confidence": _CONF,
    "sentence": {"type": "textarea"},
}
_POST_FORMATTERS: dict[str, Any] = {
    "created_at": DateFormatter(format="%Y-%m-%d %H:%M"),
    "text": {"type": "textarea"},
    # Tabulator's link formatter sets href as an attribute and escapes the label; the figures
    # keep only http(s) URLs, so no javascript: link can reach it.
    "url": {"type": "link", "target": "_blank"},
    **{c: _COUNT for c in ("likes", "reposts", "replies", "quotes", "engagement")},
}
_SERIES_FORMATTERS: dict[str, Any] = {"date": _DATE, "value": _FIGURE, "expected": _FIGURE}
#: Events per page of the events table.
_PAGE_SIZE = 25
_HINT = (
    "Select an event in the table to see the account's series around it and the posts of that day."
)
_NOT_FOUND = (
    "The selected event is not among the anomalies you can see; select an event in the table."
)
_KIND_NAMES = {k: k.replace("_", " ").capitalize() for k in af.KINDS}


def page(lake: Lake | None = None) -> pn.viewable.Viewable:
    """Build the Anomalies page over the lake's gold/anomalies, read now.

    Args:
        lake: The lake to read; ``None`` means the lake of the settings (``HHS_LAKE_URI``).

    Returns:
        The page, or an empty state when gold/anomalies has no events (for this viewer).
    """
    pn.extension("tabulator")
    lake = lake if lake is not None else Lake()
    events = kit.restrict(kit.read(lake, af.ANOMALIES, columns=af.EVENT_COLUMNS))
    if events.is_empty():
        return kit.empty_state(SLUG, lake, "anomaly events")
    return kit.shell(SLUG, lake, *AnomaliesView(lake, events).body)


class AnomaliesView:
    """The filters, events table and drill-down of one session's page."""

    def __init__(self, lake: Lake, events: pl.DataFrame) -> None:
        self.lake = lake
        self.events = events
        self.filtered = af.filter_events(events.head(0))  # filled by update() below
        first: dt.date = events["date"].min()  # type: ignore[assignment]
        last: dt.date = events["end_date"].max()  # type: ignore[assignment]

        select: dict[str, Any] = {"width": 180}
        self.agency = kit.Select(
            label="Agency", options=af.options(events, "agency"), value=af.ALL, **select
        )
        self.platform = kit.Select(
            label="Platform", options=af.options(events, "platform"), value=af.ALL, **select
        )
        self.kind = kit.Select(
            label="Kind",
            options={"All": af.ALL, **{_KIND_NAMES[k]: k for k in af.KINDS}},
            value=af.ALL,
            **select,
        )
        self.metric = kit.Select(
            label="Metric",
            options={"All": af.ALL, **{kit.metric_label(m): m for m in af.METRICS}},
            value=af.ALL,
            **select,
        )
        self.confidence = pn.widgets.FloatSlider(
            label="Minimum confidence", start=0.0, end=1.0, step=0.05, value=0.0, width=200
        )
        self.start = pn.widgets.DatePicker(
            label="From", value=None, start=first, end=last, width=150
        )
        self.end = pn.widgets.DatePicker(label="To", value=None, start=first, end=last, width=150)
        # The selected event's id; hidden, but in the URL so a drill-down link can be shared.
        self.event = pn.widgets.TextInput(label="Event", value="", visible=False)
        for widget, name in (
            (self.agency, "agency"),
            (self.platform, "platform"),
            (self.kind, "kind"),
            (self.metric, "metric"),
            (self.confidence, "confidence"),
            (self.start, "from"),
            (self.end, "to"),
            (self.event, "event"),
        ):
            kit.sync_url(widget, name)

        self.count = pn.pane.Markdown(sizing_mode="stretch_width", margin=(0, 10))
        self.table = kit.table_widget(
            self.filtered.select(af.TABLE_COLUMNS),
            titles=_EVENT_TITLES,
            formatters=_EVENT_FORMATTERS,
            hidden_columns=["event"],
            widths={"sentence": 380},
            selectable=1,
            # paginated on the server (the kit's default): a filter change sends the browser
            # one page of rows, not every event of the filter
            page_size=_PAGE_SIZE,
        )
        self.table.param.watch(self._on_select, "selection")
        self.export = kit.export_buttons(
            lambda: self.filtered.select(af.EVENT_COLUMNS), "anomalies", table=af.ANOMALIES
        )

        self.hint = pn.pane.Markdown(_HINT, sizing_mode="stretch_width")
        # Filled on selection: widgets first rendered inside a hidden container stay blank.
        self.drilldown = pn.Column(self.hint, sizing_mode="stretch_width")

        for widget in (
            self.agency,
            self.platform,
            self.kind,
            self.metric,
            self.confidence,
            self.start,
            self.end,
        ):
            widget.param.watch(self.update, "value")
        self.event.param.watch(self.show_event, "value")
        self.update()
        self.show_event()

        self.body: tuple[pn.viewable.Viewable, ...] = (
            pn.FlexBox(
                self.agency,
                self.platform,
                self.kind,
                self.metric,
                pn.Row(self.confidence, kit.tooltip("confidence")),
                self.start,
                self.end,
                self.event,
            ),
            self.count,
            self.table,
            self.export,
            pn.pane.Markdown("## Selected event", margin=(10, 10, 0, 10)),
            self.drilldown,
        )

    # -- the selected event's parts: made when an event is first selected --------------------
    @functools.cached_property
    def detail(self) -> pn.pane.Markdown:
        """What happened, in words."""
        return pn.pane.Markdown(sizing_mode="stretch_width")

    @functools.cached_property
    def chart(self) -> pn.pane.HoloViews:
        """The account's daily figures around the event."""
        return pn.pane.HoloViews(sizing_mode="stretch_width", min_height=320)

    @functools.cached_property
    def series_table(self) -> pn.widgets.Tabulator:
        """The chart's figures as a table."""
        return kit.table_widget(
            pl.DataFrame(schema=af.SERIES_SCHEMA),
            titles=_SERIES_TITLES,
            formatters=_SERIES_FORMATTERS,
            pagination="local",
            page_size=50,
        )

    @functools.cached_property
    def posts_note(self) -> pn.pane.Markdown:
        """The heading of the event's posts."""
        return pn.pane.Markdown(sizing_mode="stretch_width")

    @functools.cached_property
    def posts_table(self) -> pn.widgets.Tabulator:
        """The posts of the event's first day."""
        return kit.table_widget(
            pl.DataFrame(schema=af.POSTS_SCHEMA),
            titles=_POST_TITLES,
            formatters=_POST_FORMATTERS,
            hidden_columns=["post_id"],
            widths={"text": 420},
            pagination="local",
            page_size=20,
        )

    @functools.cached_property
    def tabs(self) -> pn.Tabs:
        """The chart (with its note) and its figures, in tabs."""
        chart_note = pn.pane.Markdown(
            f"The account's daily figures {af.WINDOW_DAYS} days either side of the event; the "
            "event's days are shaded, what was expected of them (the baseline) is dashed. "
            "A gap in the line is a day without a figure.",
            sizing_mode="stretch_width",
        )
        return pn.Tabs(
            ("Chart", pn.Column(self.chart, chart_note, sizing_mode="stretch_width")),
            ("Series data", self.series_table),
            dynamic=False,
            sizing_mode="stretch_width",
        )

    # -- the events -------------------------------------------------------------------------
    def update(self, *_: Any) -> None:
        """Filter the events for the current widget values."""
        self.filtered = af.filter_events(
            self.events,
            agency=self.agency.value,
            platform=self.platform.value,
            kind=self.kind.value,
            metric=self.metric.value,
            min_confidence=float(self.confidence.value or 0.0),
            start=self.start.value,
            end=self.end.value,
        )
        kit.show_rows(self.table, self.filtered.select(af.TABLE_COLUMNS))
        total = self.events.height
        shown = self.filtered.height
        noun = "event" if total == 1 else "events"
        self.count.object = f"{shown:,} of {total:,} {noun} shown."
        self._mark_selected()

    def _mark_selected(self) -> None:
        """Select the event's row, and turn the table to its page (a shared link's event).

        The page is counted in the order the table shows (a header the user sorted by
        included); a row clicked on the page shown is on it already.
        """
        ids = self.filtered["event"].to_list()
        wanted = [ids.index(self.event.value)] if self.event.value in ids else []
        if wanted:
            # the table's rows are the filtered events in order (index 0..n-1)
            shown = self.table.current_view.index.get_indexer([wanted[0]])[0]
            if shown >= 0:
                page = int(shown) // (self.table.page_size or _PAGE_SIZE) + 1
                if self.table.page != page:
                    self.table.page = page
        if self.table.selection != wanted:
            self.table.selection = wanted

    def _on_select(self, event: Any) -> None:
        rows = event.new or []
        if not rows or rows[0] >= self.filtered.height:
            return
        self.event.value = self.filtered["event"][rows[0]]

    # -- the drill-down ---------------------------------------------------------------------
    def show_event(self, *_: Any) -> None:
        """Show the selected event's series and posts (or the hint without a selection)."""
        key = af.EventKey.parse(self.event.value)
        event = af.find_event(self.events, key)
        self._mark_selected()
        if event is None:
            self.hint.object = _NOT_FOUND if self.event.value else _HINT
            self.drilldown.objects = [self.hint]
            return
        self.detail.object = _describe(event)
        series = self._series(event)
        kit.show_rows(self.series_table, series)
        self.chart.object = _chart(series, event)
        posts = self._posts(event)
        kit.show_rows(self.posts_table, posts.drop("agency"))
        day = _span(event)
        if posts.is_empty():
            self.posts_note.object = f"### Posts of {day}\n\nNo posts were published {day}."
        else:
            noun = "post" if posts.height == 1 else "posts"
            self.posts_note.object = (
                f"### Posts of {day}\n\n{posts.height:,} {noun}, "
                f"{int(posts['engagement'].sum()):,} engagement in total "
                "(each post's latest counters), highest first."
            )
        shown = [self.detail, self.tabs, self.posts_note]
        self.drilldown.objects = [*shown, self.posts_table] if posts.height else shown

    def _series(self, event: dict[str, Any]) -> pl.DataFrame:
        first, last = af.window(event)
        column = af.SERIES_COLUMN[event["metric"]]
        where = (
            (pl.col("platform") == event["platform"])
            & (pl.col("account_id") == event["account_id"])
            & pl.col("date").is_between(pl.lit(first, dtype=pl.Date), pl.lit(last, dtype=pl.Date))
        )
        daily = kit.restrict(
            kit.read(
                self.lake,
                af.DAILY,
                columns=["date", "platform", "account_id", "agency", column],
                where=where,
            )
        )
        return af.series_window(daily, event)

    def _posts(self, event: dict[str, Any]) -> pl.DataFrame:
        start = dt.datetime.combine(event["date"], dt.time(), tzinfo=dt.UTC)
        stop = dt.datetime.combine(event["end_date"], dt.time(), tzinfo=dt.UTC) + dt.timedelta(
            days=1
        )
        account = (pl.col("platform") == event["platform"]) & (
            pl.col("account_id") == event["account_id"]
        )
        posts = kit.read(
            self.lake,
            af.POSTS,
            columns=_POST_READ,
            where=account & (pl.col("created_at") >= start) & (pl.col("created_at") < stop),
        )
        metrics = kit.read(
            self.lake,
            af.POST_METRICS,
            columns=_METRIC_READ,
            where=account & (pl.col("observed_at") >= start),
        ).filter(pl.col("post_id").is_in(posts["post_id"].to_list()))
        # silver/posts has no agency: the event's own agency decides who may see them.
        shown = af.day_posts(posts, metrics, event).with_columns(
            agency=pl.lit(event["agency"], dtype=pl.Utf8)
        )
        return kit.restrict(shown)


_POST_READ = ["platform", "post_id", "account_id", "created_at", "post_type", "text", "url"]
_METRIC_READ = [
    "platform",
    "post_id",
    "account_id",
    "observed_at",
    "likes",
    "reposts",
    "replies",
    "quotes",
]


def _span(event: dict[str, Any]) -> str:
    if event["days"] == 1:
        return f"{event['date']:%d %B %Y} (UTC)"
    return f"{event['date']:%d %B} to {event['end_date']:%d %B %Y} (UTC)"


def _number(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    text = f"{value:+,.2f}" if signed else f"{value:,.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _describe(event: dict[str, Any]) -> str:
    """The selected event as Markdown; every untrusted value goes through ``kit.escape_md``."""
    who = kit.escape_md(event["handle"] or event["account_id"])
    agency = kit.escape_md(event["agency"] or "no agency")
    metric = kit.metric_label(event["metric"])
    change = _number(event["change"], signed=True)
    if event["change_pct"] is not None:
        change += f" ({event['change_pct']:+.1f}%)"
    return (
        f"### {kit.escape_md(event['sentence'])}\n\n"
        f"{who} ({agency}) on {kit.escape_md(event['platform'])} · "
        f"**{_KIND_NAMES.get(event['kind'], event['kind'])}** in {metric}, {_span(event)}\n\n"
        f"Value **{_number(event['value'])}** · baseline **{_number(event['baseline'])}** · "
        f"change **{change}** · confidence **{event['confidence']:.2f}**"
    )


def _chart(series: pl.DataFrame, event: dict[str, Any]) -> hv.Overlay | None:
    """The account's series around the event: event days shaded, the baseline dashed."""
    if series.is_empty():
        return None
    column = af.SERIES_COLUMN[event["metric"]]
    label = kit.metric_label(column)
    frame = series.to_pandas()
    half_day = pd.Timedelta(hours=12)
    shade = hv.VSpan(
        pd.Timestamp(event["date"]) - half_day, pd.Timestamp(event["end_date"]) + half_day
    ).opts(color=kit.PALETTE[1], alpha=0.25)
    y = hv.Dimension("value", label=label)
    line = hv.Curve(frame, "date", y, label=label).opts(color=kit.PALETTE[0], line_width=2)
    dots = hv.Scatter(frame, "date", y, label=label).opts(color=kit.PALETTE[0], size=6)
    plot = shade * line * dots
    expected = frame.dropna(subset=["expected"])
    if not expected.empty:
        base = hv.Dimension("expected", label=label)
        plot = (
            plot
            * hv.Curve(expected, "date", base, label="Expected (baseline)").opts(
                color=kit.PALETTE[2], line_dash="dashed", line_width=2
            )
            * hv.Scatter(expected, "date", base, label="Expected (baseline)").opts(
                color=kit.PALETTE[2], marker="diamond", size=10
            )
        )
    title = f"{label} around the event"
    return plot.opts(
        hv.opts.Overlay(
            title=title,
            xlabel="Date (UTC)",
            ylabel=label,
            responsive=True,
            height=320,
            legend_position="bottom",
            toolbar="above",
        )
    )
