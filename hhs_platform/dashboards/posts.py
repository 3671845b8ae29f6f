"""The Posts explorer page: search and filter posts, sort them, open one and see its curve.

The page only wires widgets to :mod:`hhs_platform.dashboards.posts_figures`, where every figure
is computed. The search runs over lazy scans of the lake, so only the matching keys are joined
and only the shown page's rows are read whole. Post text, titles and handles are untrusted: they
are shown in Tabulator cells (which escape them) or through ``kit.escape_md``; only http(s) URLs
become links.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import threading
from typing import Any

import holoviews as hv
import holoviews.plotting.bokeh  # the bokeh backend, needed by .opts
import pandas as pd
import panel as pn
import polars as pl
from bokeh.models import NumeralTickFormatter
from bokeh.models.widgets.tables import NumberFormatter

from hhs_platform.dashboards import kit
from hhs_platform.dashboards import posts_figures as pf
from hhs_platform.lake.store import Lake

SLUG = "posts"
TITLE = "Posts explorer"

POSTS = "silver/posts"
FEATURES = "silver/post_features"
METRICS = "silver/post_metrics"
CURVES = "gold/post_curves"
COUNTERS = "gold/post_counters"
ACCOUNTS = "silver/accounts"
TRENDS = "gold/trends"

_TITLES = {
    "created": "Published (UTC)",
    "agency": "Agency",
    "platform": "Platform",
    "handle": "Handle",
    "post_type": "Type",
    "text": "Text",
    "hashtags": "Hashtags",
    "topics": "Topics",
    "likes": "Likes",
    "reposts": "Reposts",
    "replies": "Replies",
    "quotes": "Quotes",
    "views": "Views",
    "engagement": "Engagement",
    "overperformance": "Overperf.",
    "link": "Original",
    "other_link": "Other link",
    "deleted": "Deleted",
    "post_id": "Post id",
}
_OBS_TITLES = {
    "observed": "Observed (UTC)",
    "hours": "Hours since publication",
    "likes": "Likes",
    "reposts": "Reposts",
    "replies": "Replies",
    "quotes": "Quotes",
    "views": "Views",
    "engagement": "Engagement",
}
_AGE_TITLES = {
    "age_hours": "Age (hours)",
    "engagement_at_age": "Engagement",
    "baseline": "Baseline",
    "overperformance": "Overperformance",
}
_COUNT = NumberFormatter(format="0,0", nan_format="–")
_RATIO = NumberFormatter(format="0.00", nan_format="–")
_HOURS = NumberFormatter(format="0.00", nan_format="–")
_COUNTS: dict[str, Any] = {c: _COUNT for c in (*pf.COUNTERS, "engagement")}
_FORMATTERS: dict[str, Any] = {
    **_COUNTS,
    "overperformance": _RATIO,
    # Tabulator's link formatter sets href as an attribute and escapes the label; only http(s)
    # URLs reach it (display_rows), every other URL is plain text in "other_link".
    "link": {"type": "link", "labelField": "link_label", "target": "_blank"},
}
_HIDDEN = ["link_label", "key"]


def page(lake: Lake | None = None) -> pn.viewable.Viewable:
    """Build the Posts explorer over the lake's silver posts, read now.

    Args:
        lake: The lake to read; ``None`` means the lake of the settings (``HHS_LAKE_URI``).

    Returns:
        The page, or an empty state when silver/posts has no posts yet.
    """
    pn.extension("tabulator")
    lake = lake if lake is not None else Lake()
    if not lake.exists(POSTS):
        return kit.empty_state(SLUG, lake, "posts")
    view = PostsView(lake)
    kit.once_on_screen(view.warm)
    return kit.shell(SLUG, lake, *view.body, title=f"HHS social media — {TITLE}")


#: The tables a search reads: its results and the search index last until one changes.
_TABLES = (POSTS, FEATURES, METRICS, CURVES, ACCOUNTS, COUNTERS)
_INDEX_KEY = ("posts-index",)


def _sources(lake: Lake) -> pf.Sources:
    """The tables a search reads, as lazy scans of their current versions."""
    return pf.Sources(
        posts=lake.scan(POSTS),
        features=lake.scan(FEATURES),
        metrics=lake.scan(METRICS),
        curves=lake.scan(CURVES),
        accounts=kit.read(lake, ACCOUNTS, columns=pf.ACCOUNT_COLUMNS),
        # a lake whose gold was built before the table existed: reduced from the metrics
        counters=lake.scan(COUNTERS) if lake.exists(COUNTERS) else None,
    )


def make_index(lake: Lake) -> pl.DataFrame:
    """The search index of the lake's posts as they are now (:func:`pf.build_index`), made once
    and shared by every session until one of the tables a search reads changes."""
    return kit.memo(lake, _TABLES, _INDEX_KEY, lambda: pf.build_index(_sources(lake)))


def prepare_index(lake: Lake) -> threading.Thread | None:
    """Start making the search index in the background (the server warming up), unless the
    setting is off or the lake has no posts; the thread, or None."""
    if not kit.settings().dashboard_posts_index or not lake.exists(POSTS):
        return None
    return kit.in_background("posts-index", [("the posts' search index", lambda: make_index(lake))])


@functools.cache
def _taxonomy_topics() -> tuple[str, ...]:
    from hhs_platform.enrich.topics import load_taxonomy

    return tuple(sorted(load_taxonomy().topics))


def _topics(lake: Lake) -> list[str]:
    """Topic choices: the shipped taxonomy's and any the lake's trends know (a user taxonomy)."""
    used = kit.read(lake, TRENDS, columns=["term"], where=pl.col("kind") == "topic")
    return sorted({*_taxonomy_topics(), *used["term"].unique().to_list()})


def _parse_key(key: str | None) -> tuple[str, str] | None:
    """``"platform:post_id"`` -> ``(platform, post_id)`` (post ids may contain colons)."""
    platform, sep, post_id = (key or "").strip().partition(":")
    return (platform, post_id) if sep and platform and post_id else None


class PostsView:
    """The filters, result table, pager, exports and selected post of one session's page."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.allowed = kit.allowed_agencies()
        self.sources = _sources(lake)
        accounts = self.sources.accounts
        self.accounts = accounts
        self.warming = threading.Thread()  # the search index's, once started (see warm)
        self._index_failed = False
        visible = pf.account_filter(accounts, pf.ALL, self.allowed)
        agencies = sorted(a for a in visible["agency"].unique().to_list() if a is not None)
        if visible["agency"].is_null().any():
            agencies.append(pf.UNASSIGNED_AGENCY)
        platforms = sorted(visible["platform"].unique().to_list())

        select: dict[str, Any] = {"width": 180}
        self.text = pn.widgets.TextInput(
            label="Search text", placeholder="words in the text or title", width=260
        )
        self.hashtag = pn.widgets.TextInput(label="Hashtag", placeholder="#hashtag", width=160)
        self.topic = kit.Select(
            label="Topic", options=[pf.ALL, *_topics(lake)], value=pf.ALL, **select
        )
        self.agency = kit.Select(
            label="Agency", options=[pf.ALL, *agencies], value=pf.ALL, **select
        )
        self.platform = kit.Select(
            label="Platform", options=[pf.ALL, *platforms], value=pf.ALL, **select
        )
        self.since = pn.widgets.DatePicker(label="Published from", value=None, width=150)
        self.until = pn.widgets.DatePicker(label="Published to", value=None, width=150)
        self.min_engagement = pn.widgets.IntInput(
            label="Minimum engagement", value=0, start=0, step=10, width=150
        )
        self.include_deleted = pn.widgets.Checkbox(
            label="Include deleted posts", value=True, margin=(30, 10, 10, 10)
        )
        self.sort = kit.Select(
            label="Sort by", options=list(pf.SORTS), value=pf.DEFAULT_SORT, **select
        )
        self.page_no = pn.widgets.IntInput(label="Page", value=1, start=1, width=90)
        self.previous = pn.widgets.Button(label="‹ Previous", width=110, margin=(27, 5, 10, 10))
        self.next = pn.widgets.Button(label="Next ›", width=110, margin=(27, 10, 10, 5))
        # The selected post ("platform:post_id"); hidden, but in the URL so a link can share it.
        self.post = pn.widgets.TextInput(label="Post", value="", visible=False)
        self.filters: list[tuple[Any, str]] = [
            (self.text, "q"),
            (self.hashtag, "hashtag"),
            (self.topic, "topic"),
            (self.agency, "agency"),
            (self.platform, "platform"),
            (self.since, "from"),
            (self.until, "to"),
            (self.min_engagement, "min_engagement"),
            (self.include_deleted, "deleted"),
            (self.sort, "sort"),
        ]
        self._ready = False
        self._quiet = False
        for widget, name in (*self.filters, (self.page_no, "page"), (self.post, "post")):
            kit.sync_url(widget, name)

        self.result = pf.SearchResult(rows=pf.empty_rows(), total=0)
        self.summary = pn.pane.Markdown(sizing_mode="stretch_width", margin=(0, 10))
        self.table = kit.table_widget(
            pf.display_rows(pf.empty_rows()),
            titles=_TITLES,
            formatters=_FORMATTERS,
            hidden_columns=_HIDDEN,
            widths={"text": 360, "hashtags": 160, "topics": 160},
            selectable=1,
            pagination=None,
            frozen_columns=["created"],
            # A fixed height: the browser draws only the rows in view (scrolled in the table)
            # and never lays the page out again for a page of fewer rows.
            height=600,
        )
        self.table.param.watch(self._on_select, "selection")
        self.export = kit.export_buttons(self._export_frame, "posts", table=POSTS)

        self.hint = pn.pane.Markdown(
            "Select a post in the table to see its engagement curve.",
            sizing_mode="stretch_width",
        )
        self.drilldown = pn.Column(self.hint, sizing_mode="stretch_width")

        for widget, _ in self.filters:
            widget.param.watch(self._on_filter, "value")
        self.page_no.param.watch(self.update, "value")
        self.previous.on_click(lambda _: self._step(-1))
        self.next.on_click(lambda _: self._step(1))
        self.post.param.watch(self.show_post, "value")
        self._ready = True
        self.update()
        self.show_post()

        self.body: tuple[pn.viewable.Viewable, ...] = (
            pn.FlexBox(
                self.text,
                self.hashtag,
                self.topic,
                self.agency,
                self.platform,
                self.since,
                self.until,
                pn.Row(self.min_engagement, kit.tooltip("engagement")),
                self.include_deleted,
                self.sort,
                self.post,
            ),
            self.summary,
            pn.FlexBox(self.previous, self.page_no, self.next),
            self.table,
            self.export,
            pn.pane.Markdown("## Selected post", margin=(10, 10, 0, 10)),
            self.drilldown,
        )

    # -- the selected post's parts: made when a post is first selected ----------------------
    @functools.cached_property
    def detail(self) -> pn.pane.Markdown:
        """The selected post's text and figures."""
        return pn.pane.Markdown(sizing_mode="stretch_width")

    @functools.cached_property
    def chart(self) -> pn.pane.HoloViews:
        """The selected post's engagement curve."""
        return pn.pane.HoloViews(sizing_mode="stretch_width", min_height=360)

    @functools.cached_property
    def observations(self) -> pn.widgets.Tabulator:
        """The selected post's observations."""
        return kit.table_widget(
            pl.DataFrame(schema={c: pl.Float64 for c in _OBS_TITLES}),
            titles=_OBS_TITLES,
            formatters={**_COUNTS, "hours": _HOURS},
            pagination="local",
            page_size=50,
        )

    @functools.cached_property
    def ages(self) -> pn.widgets.Tabulator:
        """The selected post's engagement at fixed ages, against its baseline."""
        return kit.table_widget(
            pl.DataFrame(schema={c: pl.Float64 for c in _AGE_TITLES}),
            titles=_AGE_TITLES,
            formatters={
                "age_hours": _COUNT,
                "engagement_at_age": _COUNT,
                "baseline": _RATIO,
                "overperformance": _RATIO,
            },
            pagination=None,
        )

    # -- the search -------------------------------------------------------------------------
    def query(self) -> pf.PostQuery:
        """The search the widgets describe now."""
        page = max(int(self.page_no.value or 1), 1)
        return pf.PostQuery(
            text=self.text.value or "",
            hashtag=self.hashtag.value or "",
            topic=self.topic.value or pf.ALL,
            agency=self.agency.value or pf.ALL,
            platform=self.platform.value or pf.ALL,
            since=self.since.value,
            until=self.until.value,
            min_engagement=max(int(self.min_engagement.value or 0), 0),
            include_deleted=bool(self.include_deleted.value),
            sort=self.sort.value if self.sort.value in pf.SORTS else pf.DEFAULT_SORT,
            offset=(page - 1) * pf.PAGE_SIZE,
        )

    def _on_filter(self, *_: Any) -> None:
        if self.page_no.value != 1:
            self._quiet = True
            try:
                self.page_no.value = 1
            finally:
                self._quiet = False
        self.update()

    def _step(self, delta: int) -> None:
        pages = max((self.result.total + pf.PAGE_SIZE - 1) // pf.PAGE_SIZE, 1)
        self.page_no.value = min(max(int(self.page_no.value or 1) + delta, 1), pages)

    def update(self, *_: Any) -> None:
        """Run the search for the current widget values and show its page."""
        if not self._ready or self._quiet:
            return
        self.result = self._search(self.query())
        # The search already kept the viewer's agencies; restrict() guards the page anyway.
        shown = pf.display_rows(kit.restrict(self.result.rows))
        self.table.selection = []
        kit.show_rows(self.table, shown)
        self.summary.object = f"**{pf.page_summary(self.result)}**"
        self.previous.disabled = self.result.offset == 0
        self.next.disabled = self.result.offset + pf.PAGE_SIZE >= self.result.total
        self._mark_selected()

    def _search(self, query: pf.PostQuery, limit: int = pf.PAGE_SIZE) -> pf.SearchResult:
        # Shared by every session (of the same agency access) until one of the tables changes.
        return kit.memo(
            self.lake,
            _TABLES,
            ("posts", query, self.allowed, limit),
            lambda: self._run(query, limit),
        )

    def _run(self, query: pf.PostQuery, limit: int) -> pf.SearchResult:
        index = self.index()
        if index is not None:
            return pf.search_index(index, query, allowed=self.allowed, limit=limit)
        return pf.search_posts(self.sources, query, allowed=self.allowed, limit=limit)

    # -- the search index -------------------------------------------------------------------
    def index(self) -> pl.DataFrame | None:
        """The posts' search index of the lake as it is now, or None while it is being made.

        The index (:func:`pf.build_index`) is shared by every session until one of the tables
        changes. The page starts making it once on screen (:meth:`warm`); when it is missing
        later (the lake changed since), this starts making it again in the background, unless
        this session's last try failed or the setting is off.
        """
        if not kit.settings().dashboard_posts_index:
            return None
        index: pl.DataFrame | None = kit.peek(self.lake, _TABLES, _INDEX_KEY)
        started = self.warming.ident is not None
        if index is None and started and not self._index_failed and not self.warming.is_alive():
            self.warm()
        return index

    def warm(self) -> None:
        """Make the search index in a background thread (``self.warming``), unless it is off."""
        if kit.settings().dashboard_posts_index:
            self.warming = kit.in_background(
                "posts-index", [("the posts' search index", self._build_index)]
            )

    def _build_index(self) -> None:
        try:
            make_index(self.lake)
        except Exception:
            self._index_failed = True
            raise

    def _export_frame(self) -> pl.DataFrame:
        # Every page of the current search (up to the export limit), not only the one shown.
        everything = dataclasses.replace(self.query(), offset=0)
        result = self._search(everything, limit=pf.EXPORT_LIMIT)
        return kit.restrict(pf.export_rows(result.rows))

    def _keys(self) -> list[str]:
        rows = self.result.rows
        if rows.is_empty():
            return []
        return (rows["platform"] + ":" + rows["post_id"]).to_list()

    def _mark_selected(self) -> None:
        keys = self._keys()
        wanted = [keys.index(self.post.value)] if self.post.value in keys else []
        if self.table.selection != wanted:
            self.table.selection = wanted

    def _on_select(self, event: Any) -> None:
        rows = event.new or []
        keys = self._keys()
        if rows and rows[0] < len(keys):
            self.post.value = keys[rows[0]]

    # -- the selected post ------------------------------------------------------------------
    def show_post(self, *_: Any) -> None:
        """Show the selected post, its engagement curve and its observations."""
        self._mark_selected()
        key = _parse_key(self.post.value)
        post = self._post(key) if key is not None else None
        if key is None or post is None:
            self.hint.object = (
                "The selected post is not among the posts you can see; select a post in the table."
                if self.post.value
                else "Select a post in the table to see its engagement curve."
            )
            self.drilldown.objects = [self.hint]
            return
        where = (pl.col("platform") == key[0]) & (pl.col("post_id") == key[1])
        observations = kit.read(self.lake, METRICS, columns=pf.METRIC_COLUMNS, where=where)
        curves = kit.read(self.lake, CURVES, columns=pf.CURVE_COLUMNS, where=where)
        points = pf.curve_points(post["created_at"], observations)
        ages = pf.baseline_points(curves)
        self.detail.object = _describe(post, points)
        self.chart.object = _chart(points, ages)
        self.observations.value = points.select(
            pl.col("observed_at").dt.strftime("%Y-%m-%d %H:%M:%S").alias("observed"),
            pl.col("hours").round(2),
            *pf.COUNTERS,
            "engagement",
        ).to_pandas()
        self.ages.value = ages.rename(
            {"hours": "age_hours", "engagement": "engagement_at_age"}
        ).to_pandas()
        parts: list[Any] = [self.detail, self.chart]
        parts += [pn.pane.Markdown("### Observations", margin=(0, 10)), self.observations]
        if not ages.is_empty():
            parts += [
                pn.Row(
                    pn.pane.Markdown("### Engagement at fixed ages and baseline", margin=(0, 10)),
                    kit.tooltip("overperformance"),
                ),
                self.ages,
            ]
        self.drilldown.objects = parts

    def _post(self, key: tuple[str, str]) -> dict[str, Any] | None:
        where = (pl.col("platform") == key[0]) & (pl.col("post_id") == key[1])
        posts = kit.read(self.lake, POSTS, columns=pf.POST_COLUMNS, where=where)
        if posts.is_empty():
            return None
        found = posts.join(
            self.accounts.unique(subset=["platform", "account_id"], keep="last"),
            on=["platform", "account_id"],
            how="left",
        )
        found = kit.restrict(found)
        return found.row(0, named=True) if not found.is_empty() else None


def _describe(post: dict[str, Any], points: pl.DataFrame) -> str:
    """The selected post in words; every platform-supplied value goes through escape_md."""
    created: dt.datetime = post["created_at"]
    who = kit.escape_md(post.get("handle") or post["account_id"])
    agency = kit.escape_md(post.get("agency") or pf.UNASSIGNED_AGENCY)
    paragraphs = [
        f"**{who}** ({agency}) on {kit.escape_md(post['platform'])}, "
        f"{kit.escape_md(post['post_type'])} published {created:%Y-%m-%d %H:%M} UTC"
        + (" — **deleted**" if post.get("is_deleted") else "")
    ]
    if post.get("title"):
        paragraphs.append(f"**{kit.escape_md(post['title'])}**")
    text = [kit.escape_md(line) for line in (post.get("text") or "").splitlines() if line.strip()]
    paragraphs.append("  \n".join(text) if text else "(no text)")
    if points.is_empty():
        paragraphs.append("No observations of its counters yet.")
    else:
        last = points.row(-1, named=True)
        paragraphs.append(
            f"Latest engagement **{last['engagement']:,}** at {last['hours']:.1f} hours "
            f"since publication ({points.height:,} points)."
        )
    return "\n\n".join(paragraphs)


def _chart(points: pl.DataFrame, ages: pl.DataFrame) -> Any:
    """Engagement by hours since publication (steps) and the account's baseline at fixed ages."""
    if points.is_empty() and ages.is_empty():
        return None
    engagement_color, baseline_color = kit.PALETTE[0], kit.PALETTE[5]
    data = pd.DataFrame(
        {"hours": points["hours"].to_list(), "engagement": points["engagement"].to_list()}
    )
    kdims, vdims = (
        [hv.Dimension("hours", label="Hours since publication")],
        [hv.Dimension("engagement", label="Engagement")],
    )
    overlay = hv.Curve(data, kdims, vdims, label="Engagement (observed)").opts(
        interpolation="steps-post", color=engagement_color, line_width=2
    ) * hv.Scatter(data, kdims, vdims, label="Observation").opts(
        color=engagement_color, size=7, marker="circle"
    )
    base = ages.filter(pl.col("baseline").is_not_null())
    if not base.is_empty():
        frame = pd.DataFrame(
            {"hours": base["hours"].to_list(), "engagement": base["baseline"].to_list()}
        )
        overlay = (
            overlay
            * hv.Curve(frame, kdims, vdims, label="Account baseline (median)").opts(
                color=baseline_color, line_dash="dashed", line_width=2
            )
            * hv.Scatter(frame, kdims, vdims, label="Baseline at age").opts(
                color=baseline_color, size=8, marker="square"
            )
        )
    return overlay.opts(
        title="Engagement by hours since publication",
        responsive=True,
        height=360,
        legend_position="top_left",
        toolbar="above",
        yformatter=NumeralTickFormatter(format="0,0"),
        ylim=(0, None),
    )


__all__ = ["SLUG", "TITLE", "PostsView", "make_index", "page", "prepare_index"]
