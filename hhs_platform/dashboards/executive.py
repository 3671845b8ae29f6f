"""The Executive page: a period's headline figures against the previous period, what matters.

Every figure comes from :mod:`hhs_platform.reports.highlights`, the computation the executive
brief uses too, and is formatted by the brief's own functions: the page and the brief always
agree. Text from the platforms (post text, handles, anomaly sentences) is untrusted: it is only
shown in Tabulator cells, which escape it; post links are kept only when http(s).
"""

from __future__ import annotations

import threading
from functools import partial
from typing import Any

import hvplot.pandas  # noqa: F401  (registers .hvplot on pandas frames)
import panel as pn
import polars as pl
from bokeh.models import NumeralTickFormatter
from bokeh.models.widgets.tables import DateFormatter, NumberFormatter

from hhs_platform.dashboards import figures as fig
from hhs_platform.dashboards import kit
from hhs_platform.lake.reads import UNASSIGNED_AGENCY
from hhs_platform.lake.store import Lake
from hhs_platform.reports import brief
from hhs_platform.reports import highlights as hl

SLUG = "executive"
#: The tables the highlights are computed from (their versions key the shared cache).
_HIGHLIGHT_TABLES = (
    hl.DAILY,
    hl.AGENCY_METRICS,
    hl.ANOMALIES,
    hl.POSTS,
    hl.POST_METRICS,
    hl.ACCOUNTS,
    hl.SNAPSHOTS,
)
TITLE = "HHS social media — executive overview"

#: Period choices: label -> period understood by :func:`highlights.parse_period`.
PERIOD_OPTIONS: dict[str, str] = {"Week": "week", "Month": "month", "Quarter": "90d"}
DEFAULT_PERIOD = "month"
#: Columns of the accounts table (and its export), in order.
ACCOUNT_COLUMNS = [
    "handle",
    "agency",
    "platform",
    "followers",
    "followers_change",
    "engagement",
    "posts_published",
    "engagement_rate",
    "date",
    "account_id",
]
_COUNT = NumberFormatter(format="0,0", nan_format="–")
_SIGNED = NumberFormatter(format="+0,0", nan_format="–")
_RATE = NumberFormatter(format="0.00%", nan_format="–")
_PCT = NumberFormatter(format="+0.0", nan_format="–")
_DATE = DateFormatter(format="%Y-%m-%d")
_ACCOUNT_TITLES = {
    "handle": "Handle",
    "agency": "Agency",
    "platform": "Platform",
    "followers": "Followers",
    "followers_change": "Change (period)",
    "engagement": "Engagement (period)",
    "posts_published": "Posts (period)",
    "engagement_rate": "Engagement rate",
    "date": "Latest date",
    "account_id": "Account id",
}
_ACCOUNT_FORMATTERS: dict[str, Any] = {
    "followers": _COUNT,
    "followers_change": _SIGNED,
    "engagement": _COUNT,
    "posts_published": _COUNT,
    "engagement_rate": _RATE,
    "date": _DATE,
}
_POST_TITLES = {
    "rank": "#",
    "handle": "Account",
    "agency": "Agency",
    "platform": "Platform",
    "created_at": "Published (UTC)",
    "engagement": "Engagement",
    "text": "Post",
    "url": "Link",
}
_AGENCY_TITLES = {
    "rank": "#",
    "agency": "Agency",
    "followers": "Followers",
    "followers_change": "Growth",
    "growth_pct": "Growth %",
    "engagement": "Engagement",
    "engagement_change_pct": "vs previous %",
    "posts_published": "Posts",
}
_ANOMALY_TITLES = {
    "date": "Date",
    "agency": "Agency",
    "handle": "Account",
    "platform": "Platform",
    "kind": "Kind",
    "confidence": "Confidence",
    "sentence": "What happened",
}


def page(lake: Lake | None = None) -> pn.viewable.Viewable:
    """Build the Executive page over the lake, read now.

    Args:
        lake: The lake to read; ``None`` means the lake of the settings (``HHS_LAKE_URI``).

    Returns:
        The page, or an empty state when there are no daily figures (for this viewer).
    """
    pn.extension("tabulator")
    lake = lake if lake is not None else Lake()
    dims = kit.restrict(
        # every session's filters come from the same few hundred distinct pairs
        kit.memo(
            lake,
            (hl.DAILY,),
            ("executive-dims",),
            lambda: (
                kit.read(lake, hl.DAILY, columns=["agency", "platform"])
                .unique()
                .with_columns(pl.col("agency").fill_null(UNASSIGNED_AGENCY))
            ),
        )
    )
    if dims.is_empty():
        return kit.empty_state(SLUG, lake, "daily figures (gold)")
    view = ExecutiveView(lake, dims)
    kit.once_on_screen(view.warm)
    return kit.shell(SLUG, lake, *view.body, title=TITLE)


#: Kept for callers of the first version of the page.
executive_page = page


def _heading(text: str, metric: str | None = None) -> pn.Row:
    items: list[Any] = [pn.pane.Markdown(f"## {text}", margin=(10, 0, 0, 10))]
    if metric:
        items.append(kit.tooltip(metric))
    return pn.Row(*items)


def _card(label: str, value: str, change: str, pct: str, way: str, period: str) -> str:
    arrow = {"up": "▲", "down": "▼", "flat": "■"}[way]
    extra = f" ({pct})" if pct != "—" else ""
    colour = {"up": kit.GOOD, "down": kit.BAD, "flat": kit.NEUTRAL}[way]
    # Only numbers and fixed labels reach this HTML (no text from the platforms).
    return (
        f'<div class="exec-card" style="min-width:150px">'
        f'<div style="font-size:11pt;color:#334155">{label}</div>'
        f'<div style="font-size:22pt;font-weight:700" data-figure-value>{value}</div>'
        f'<div style="font-size:10pt;color:{colour}">{arrow} {change}{extra} '
        f'<span style="color:#334155">vs previous {period}</span>'
        f'<span style="position:absolute;left:-9999px"> ({way})</span></div></div>'
    )


class ExecutiveView:
    """The filters, headline cards, charts and tables of one session's page."""

    #: The highlights shown, kept by :meth:`update` for the sections below (``kit.Later``).
    _highlights: hl.Highlights
    #: The thread of :meth:`warm`, once started.
    warming: threading.Thread | None = None

    def __init__(self, lake: Lake, dims: pl.DataFrame) -> None:
        self.lake = lake
        self.accounts = kit.read(lake, hl.ACCOUNTS, columns=["agency", "parent_agency"])
        agencies = sorted(dims["agency"].unique().to_list())
        platforms = sorted(dims["platform"].unique().to_list())
        self.agency = kit.Select(
            label="Agency (with the offices below it)",
            options=[fig.ALL, *agencies],
            value=fig.ALL,
            width=240,
        )
        self.platform = kit.Select(
            label="Platform", options=[fig.ALL, *platforms], value=fig.ALL, width=180
        )
        self.period = kit.Select(
            label="Period", options=PERIOD_OPTIONS, value=DEFAULT_PERIOD, width=140
        )
        for widget, name in (
            (self.agency, "agency"),
            (self.platform, "platform"),
            (self.period, "period"),
        ):
            kit.sync_url(widget, name)

        self.status = pn.pane.Markdown(sizing_mode="stretch_width", margin=(0, 10))
        self.cards = {
            name: pn.pane.HTML(margin=(5, 10), min_width=170)
            for name in (
                "followers",
                "followers_change",
                "growth_pct",
                "engagement",
                "engagement_rate",
                "posts_published",
            )
        }
        # drawn once, then updated in place on each filter change
        self.growth_chart = _day_bars("followers_change", "Follower growth per day")
        self.anomalies = kit.table_widget(
            pl.DataFrame(schema={c: pl.Utf8 for c in _ANOMALY_TITLES}),
            titles=_ANOMALY_TITLES,
            formatters={
                "date": _DATE,
                "confidence": NumberFormatter(format="0%"),
                "sentence": {"type": "textarea"},
            },
            widths={"sentence": 420},
            pagination=None,
        )
        self.shown_accounts = pl.DataFrame(schema=_account_schema())
        # built, computed and drawn once the page has shown the figures above
        self.lower = kit.Later(self._build_lower, self._show_lower)

        for widget in (self.agency, self.platform, self.period):
            widget.param.watch(self.update, "value")
        self.update()

        self.body: tuple[pn.viewable.Viewable, ...] = (
            pn.FlexBox(self.agency, self.platform, self.period),
            self.status,
            pn.FlexBox(
                *[pn.Row(card, kit.tooltip(name), margin=0) for name, card in self.cards.items()]
            ),
            _heading("Anomalies that matter", "confidence"),
            self.anomalies,
            _heading("Day by day"),
            self.growth_chart.pane,
            self.lower.pane,
        )

    def _build_lower(self) -> list[pn.viewable.Viewable]:
        """The engagement chart and the top posts, agencies and accounts (see :class:`kit.Later`)."""
        self.engagement_chart = _day_bars("engagement", "Engagement per day")
        self.top_posts = kit.table_widget(
            hl.top_posts_frame().select(list(_POST_TITLES)),
            titles=_POST_TITLES,
            formatters={
                "created_at": DateFormatter(format="%Y-%m-%d %H:%M"),
                "engagement": _COUNT,
                "text": {"type": "textarea"},
                # Tabulator's link formatter escapes the label and sets href as an attribute;
                # only http(s) URLs reach it (brief.safe_url).
                "url": {"type": "link", "label": "Open", "target": "_blank"},
            },
            widths={"text": 420},
            pagination=None,
        )
        self.top_agencies = kit.table_widget(
            hl.top_agencies_frame().select(list(_AGENCY_TITLES)),
            titles=_AGENCY_TITLES,
            formatters={
                "followers": _COUNT,
                "followers_change": _SIGNED,
                "growth_pct": _PCT,
                "engagement": _COUNT,
                "engagement_change_pct": _PCT,
                "posts_published": _COUNT,
            },
            pagination=None,
        )
        self.accounts_table = kit.table_widget(
            pl.DataFrame(schema=_account_schema()),
            titles=_ACCOUNT_TITLES,
            formatters=_ACCOUNT_FORMATTERS,
            hidden_columns=["account_id"],
        )
        export = kit.export_buttons(
            lambda: self.shown_accounts, "executive-accounts", table="gold/daily_account_metrics"
        )

        return [
            self.engagement_chart.pane,
            _heading("Top posts", "engagement"),
            self.top_posts,
            _heading("Top agencies", "engagement"),
            self.top_agencies,
            _heading("Accounts", "followers"),
            self.accounts_table,
            export,
        ]

    # -- state ---------------------------------------------------------------------------------
    def scope(self) -> tuple[list[str] | None, list[str] | None]:
        """The agencies (with their offices, within the viewer's) and platforms selected."""
        allowed = kit.allowed_agencies()
        agencies: set[str] | None = None
        if self.agency.value != fig.ALL:
            agencies = hl.agencies_with_descendants(self.accounts, [self.agency.value])
        if allowed is not None:
            agencies = set(allowed) if agencies is None else agencies & set(allowed)
        platforms = None if self.platform.value == fig.ALL else [self.platform.value]
        return (sorted(agencies) if agencies is not None else None), platforms

    def highlights(
        self,
        period: str | None = None,
        scope: tuple[list[str] | None, list[str] | None] | None = None,
    ) -> hl.Highlights:
        """The highlights of the current selection (or of ``period`` and ``scope``)."""
        period = period if period is not None else self.period.value
        agencies, platforms = scope if scope is not None else self.scope()

        def reader(table: str, columns: Any, where: pl.Expr | None) -> pl.DataFrame:
            return kit.read(self.lake, table, columns=list(columns), where=where)

        # Shared by every session until a table changes: the first visitor computes them.
        key = (
            "executive",
            period,
            None if agencies is None else tuple(agencies),
            None if platforms is None else tuple(platforms),
        )
        return kit.memo(
            self.lake,
            _HIGHLIGHT_TABLES,
            key,
            lambda: hl.load_highlights(
                self.lake,
                period,
                agencies=agencies,
                platforms=platforms,
                reader=reader,
                # every selection of a period shares the period's cached reads
                scope_in_memory=True,
            ),
        )

    def warm(self) -> None:
        """Compute the other periods' figures of the selection shown, in the background.

        The first choice of another period reads that period's rows of five tables and ranks its
        posts: 0.5-0.8 s for a quarter of the large benchmark lake, where a change otherwise
        takes a fifth of that. Done once per table version for every session (``kit.memo``); a
        viewer who picks the period meanwhile waits for the same computation, not a second one.
        """
        scope = self.scope()  # the session's viewer, read here: the thread has no session

        def figures(period: str) -> None:
            self.account_rows(self.highlights(period, scope), scope)

        others = [p for p in PERIOD_OPTIONS.values() if p != self.period.value]
        self.warming = kit.in_background(
            "executive-warm-up", [(f"the {p} figures", partial(figures, p)) for p in others]
        )

    def update(self, *_: Any) -> None:
        """Recompute every figure for the current widget values."""
        h = self.highlights()
        period = h.period
        label = period.label if period else "period"
        for f in h.figures():
            self.cards[f.name].object = _card(
                kit.metric_label(f.name),
                brief.fmt_value(f.name, f.value),
                brief.fmt_change(f),
                brief.fmt_change_pct(f),
                brief.direction(f),
                label,
            )
        if period is None:
            self.status.object = "No daily figures for this selection."
        else:
            fresh = (
                f" Newest observation {h.newest_observation:%Y-%m-%d %H:%M} UTC."
                if h.newest_observation
                else ""
            )
            self.status.object = kit.escape_md(
                f"{period.label.capitalize()} {period.start} to {period.end} (UTC), against "
                f"{period.previous_start} to {period.previous_end}. {h.headline()}{fresh}"
            )
        kit.show_rows(self.anomalies, kit.restrict(h.anomalies).select(list(_ANOMALY_TITLES)))
        self.growth_chart.show(h.daily)
        self._highlights = h
        self.lower.refresh()

    def _show_lower(self) -> None:
        h = self._highlights  # update()'s, which runs first
        self.engagement_chart.show(h.daily)
        posts = kit.restrict(h.top_posts).with_columns(
            pl.col("url").map_elements(brief.safe_url, return_dtype=pl.Utf8)
        )
        kit.show_rows(self.top_posts, posts.select(list(_POST_TITLES)))
        kit.show_rows(self.top_agencies, kit.restrict(h.top_agencies).select(list(_AGENCY_TITLES)))
        self.shown_accounts = self.account_rows(h)
        kit.show_rows(self.accounts_table, self.shown_accounts)

    def account_rows(
        self,
        h: hl.Highlights,
        scope: tuple[list[str] | None, list[str] | None] | None = None,
    ) -> pl.DataFrame:
        """Per account of the selection (or ``scope``): followers at its latest day, flows over
        the period of ``h``. Shared by every session until the daily figures change."""
        period = h.period
        if period is None:
            return pl.DataFrame(schema=_account_schema())
        agencies, platforms = scope if scope is not None else self.scope()

        def compute() -> pl.DataFrame:
            where = pl.col("date").is_between(period.start, period.end)
            if platforms is not None:
                where = where & pl.col("platform").is_in(platforms)
            daily = kit.read(
                self.lake, hl.DAILY, columns=[*fig.EXECUTIVE_COLUMNS], where=where
            ).with_columns(pl.col("agency").fill_null(UNASSIGNED_AGENCY))
            if agencies is not None:
                daily = daily.filter(pl.col("agency").is_in(agencies))
            rows = fig.latest_by(
                daily, ["agency", "platform", "account_id"], None, carry=("handle",)
            )
            return rows.select(ACCOUNT_COLUMNS)

        key = (
            "executive-accounts",
            period.start,
            period.end,
            None if agencies is None else tuple(agencies),
            None if platforms is None else tuple(platforms),
        )
        return kit.restrict(kit.memo(self.lake, (hl.DAILY,), key, compute))


def _account_schema() -> dict[str, Any]:
    return {
        "handle": pl.Utf8,
        "agency": pl.Utf8,
        "platform": pl.Utf8,
        "followers": pl.Int64,
        "followers_change": pl.Int64,
        "engagement": pl.Int64,
        "posts_published": pl.Int64,
        "engagement_rate": pl.Float64,
        "date": pl.Date,
        "account_id": pl.Utf8,
    }


def _day_bars(column: str, title: str) -> kit.LiveBars:
    """A chart of one bar per day of ``column``: drawn once, then updated in place."""
    return kit.LiveBars(
        partial(_bars, column, title),
        "date",
        column,
        sizing_mode="stretch_width",
        min_height=300,
    )


def _bars(column: str, title: str, daily: pl.DataFrame) -> Any:
    """One bar per day of ``column`` (the figure :class:`kit.LiveBars` then updates)."""
    frame = daily.select("date", column).to_pandas()
    return frame.hvplot.bar(
        x="date",
        y=column,
        title=title,
        xlabel="Date (UTC)",
        ylabel=kit.metric_label(column),
        color=kit.PALETTE[0],
        yformatter=NumeralTickFormatter(format="0,0"),
        rot=45,
        responsive=True,
        height=300,
        hover_cols=["date", column],
    ).opts(toolbar=None, min_width=300)
