"""The executive page: headline figures, trends and latest figures per agency and platform.

The page only wires widgets to :mod:`hhs_platform.dashboards.figures`; every figure is computed
there. Text from the platforms (handles) is untrusted: it is only shown through Tabulator cells
(which escape it) and widget options, never interpolated into HTML or Markdown.
"""

from __future__ import annotations

import html
from typing import Any

import hvplot.pandas  # noqa: F401  (registers .hvplot on pandas frames)
import panel as pn
import polars as pl
from bokeh.models import NumeralTickFormatter
from bokeh.models.widgets.tables import DateFormatter, NumberFormatter

from hhs_platform.dashboards import figures as fig
from hhs_platform.lake.reads import (
    UNASSIGNED_AGENCY,
    daily_account_metrics,
    roll_up_agency_platform,
)
from hhs_platform.lake.store import Lake

SLUG = "executive"
TITLE = "HHS social media — executive overview"

_SERIES = "Agency · platform"
_UP, _FLAT, _DOWN = "#15803d", "#334155", "#b91c1c"
_CHANGE_COLORS = [(-1, _DOWN), (0, _FLAT), (float("inf"), _UP)]
_COUNT = NumberFormatter(format="0,0")
_SIGNED = NumberFormatter(format="+0,0")
_RATE = NumberFormatter(format="0.00%")
_DATE = DateFormatter(format="%Y-%m-%d")
_TITLES = {
    "agency": "Agency",
    "platform": "Platform",
    "handle": "Handle",
    "account_id": "Account id",
    "date": "Latest date",
    "followers": "Followers",
    "followers_change": "Change (period)",
    "engagement": "Engagement (period)",
    "posts_published": "Posts (period)",
    "engagement_rate": "Engagement / follower",
}
_FORMATTERS = {
    "followers": _COUNT,
    "followers_change": _SIGNED,
    "engagement": _COUNT,
    "posts_published": _COUNT,
    "engagement_rate": _RATE,
    "date": _DATE,
}


def executive_page(lake: Lake | None = None) -> pn.viewable.Viewable:
    """Build the executive page over the lake's daily gold figures, read now.

    Args:
        lake: The lake to read; ``None`` means the lake of the settings (``HHS_LAKE_URI``).

    Returns:
        The page, or an empty-state message when the lake has no gold figures yet.
    """
    pn.extension("tabulator")
    lake = lake if lake is not None else Lake()
    daily = daily_account_metrics(lake, columns=fig.EXECUTIVE_COLUMNS)
    if daily.is_empty():
        return empty_state(lake)
    return ExecutiveView(daily).layout


def empty_state(lake: Lake) -> pn.viewable.Viewable:
    """The page shown before the first collection has built gold."""
    message = (
        "### No figures yet\n\n"
        f"The lake at {html.escape(lake.uri)} has no daily figures (gold) yet. "
        "Run `hhs collect` to collect the accounts' figures and build gold, "
        "then reload this page."
    )
    return pn.Column(
        pn.pane.Markdown(f"# {TITLE}"),
        pn.pane.Alert(message, alert_type="warning", sizing_mode="stretch_width"),
        sizing_mode="stretch_width",
        max_width=1400,
    )


class ExecutiveView:
    """The widgets, indicators, charts and tables of one session's page."""

    def __init__(self, daily: pl.DataFrame) -> None:
        self.daily = daily.with_columns(pl.col("agency").fill_null(UNASSIGNED_AGENCY))
        self.rollup = roll_up_agency_platform(self.daily)
        agencies = self.rollup["agency"].unique().sort().to_list()
        platforms = self.rollup["platform"].unique().sort().to_list()

        self.agency = pn.widgets.Select(
            label="Agency", options=[fig.ALL, *agencies], value=fig.ALL, width=220
        )
        self.platform = pn.widgets.Select(
            label="Platform", options=[fig.ALL, *platforms], value=fig.ALL, width=220
        )
        self.period = pn.widgets.RadioButtonGroup(
            label="Period",
            options=list(fig.PERIODS),
            value=fig.DEFAULT_PERIOD,
            margin=(26, 10, 10, 10),
        )

        number: dict[str, Any] = {"font_size": "24pt", "title_size": "11pt", "width": 175}
        self.followers = pn.indicators.Number(label="Followers", format="{value:,.0f}", **number)
        self.change = pn.indicators.Number(
            label="Change in followers", format="{value:+,.0f}", colors=_CHANGE_COLORS, **number
        )
        self.engagement = pn.indicators.Number(label="Engagement", format="{value:,.0f}", **number)
        self.posts = pn.indicators.Number(label="Posts published", format="{value:,.0f}", **number)
        self.status = pn.pane.Markdown(sizing_mode="stretch_width")

        self.followers_chart = pn.pane.HoloViews(sizing_mode="stretch_width", min_height=440)
        self.engagement_chart = pn.pane.HoloViews(sizing_mode="stretch_width", min_height=440)
        self.chart_note = pn.pane.Markdown(sizing_mode="stretch_width")

        table: dict[str, Any] = {
            "disabled": True,
            "show_index": False,
            "pagination": "local",
            "page_size": 10,
            "titles": _TITLES,
            "formatters": _FORMATTERS,
            "sizing_mode": "stretch_width",
            "layout": "fit_data_table",
        }
        self.pairs_table = pn.widgets.Tabulator(**table)
        self.accounts_table = pn.widgets.Tabulator(**table, hidden_columns=["account_id"])

        for widget in (self.agency, self.platform, self.period):
            widget.param.watch(self.update, "value")
        self.update()

        self.layout = pn.Column(
            pn.pane.Markdown(f"# {TITLE}", margin=(0, 10)),
            pn.FlexBox(self.agency, self.platform, self.period),
            self.status,
            pn.FlexBox(self.followers, self.change, self.engagement, self.posts),
            self.followers_chart,
            self.engagement_chart,
            self.chart_note,
            pn.pane.Markdown("### Latest figures per agency × platform"),
            self.pairs_table,
            pn.pane.Markdown("### Accounts"),
            self.accounts_table,
            sizing_mode="stretch_width",
            max_width=1400,
        )

    def update(self, *_: Any) -> None:
        """Recompute every figure for the current widget values."""
        days = fig.PERIODS[self.period.value]
        rollup = fig.select(self.rollup, agency=self.agency.value, platform=self.platform.value)
        daily = fig.select(self.daily, agency=self.agency.value, platform=self.platform.value)
        top = fig.headline(rollup, days)

        self.followers.label = f"Followers on {top.latest_date}"
        self.followers.value = top.followers
        self.change.value = top.followers_change
        self.engagement.value = top.engagement
        self.posts.value = top.posts_published
        rate = top.engagement_rate
        self.status.object = (
            f"Figures as of **{top.latest_date}**; period **{top.period_start}** to "
            f"**{top.latest_date}**. Engagement (likes, reposts, replies, quotes) counts posts "
            f"published in the period"
            + (f"; {rate:.2%} of followers." if rate is not None else ".")
        )

        series, total = fig.chart_series(rollup, days)
        self.followers_chart.object = _line(series, "followers", "Followers")
        self.engagement_chart.object = _line(series, "engagement", "Engagement per day")
        self.chart_note.object = (
            f"Showing the {fig.MAX_SERIES} largest of {total} agency × platform lines; "
            "choose an agency or platform to see the others."
            if total > fig.MAX_SERIES
            else ""
        )

        pairs = fig.latest_by(rollup, ["agency", "platform"], days)
        self.pairs_table.value = pairs.to_pandas()
        accounts = fig.latest_by(
            daily, ["agency", "platform", "account_id"], days, carry=("handle",)
        ).select(
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
        )
        self.accounts_table.value = accounts.to_pandas()


def _line(data: Any, column: str, title: str) -> Any:
    if data.empty:
        return None
    frame = data.rename(columns={"series": _SERIES}).dropna(subset=[column])
    style = {
        "x": "date",
        "y": column,
        "by": _SERIES,
        "xlabel": "",
        "ylabel": "",
        "yformatter": NumeralTickFormatter(format="0,0"),
        "responsive": True,
        "height": 440,
        "legend": "bottom",
    }
    # Markers keep a series with one observation visible (a line needs two points).
    plot = frame.hvplot.line(title=title, **style) * frame.hvplot.scatter(size=30, **style)
    return plot.opts(legend_cols=2, toolbar="above")


#: The page factory the server calls (see ``hhs_platform.dashboards.server.PAGES``).
page = executive_page
