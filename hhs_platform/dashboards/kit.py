"""What every dashboard page shares: layout, navigation, cached reads, URL filters, tooltips,
accessible colours, agency restriction, safe text and export buttons.

Pages build on these so that they behave alike: the filters of any page live in its URL (a link
reproduces the view), every metric carries its definition, every table exports with its data
dictionary, and a viewer limited to some agencies never receives another agency's rows.
"""

from __future__ import annotations

import html
import logging
import re
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, cast

import panel as pn
import polars as pl

from hhs_platform.dashboards import security
from hhs_platform.errors import HhsError
from hhs_platform.exports import FORMATS, column_meanings, dictionary_csv, to_bytes
from hhs_platform.lake.store import Lake
from hhs_platform.settings import Settings, get_settings
from schemas import table_spec

#: Okabe–Ito palette: distinguishable with the common colour-vision deficiencies.
PALETTE: list[str] = [
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#000000",  # black
]
#: Text colours with at least 4.5:1 contrast on white (WCAG AA), for good / neutral / bad.
GOOD, NEUTRAL, BAD = "#14663a", "#334155", "#a3191d"

#: Every page: URL slug -> navigation label, in menu order.
NAV: dict[str, str] = {
    "executive": "Executive",
    "trends": "Trends",
    "anomalies": "Anomalies",
    "posts": "Posts",
    "operations": "Operations",
}

#: Labels and definitions of the metrics the pages show (tooltips); table columns not listed
#: here fall back to their schema descriptions.
METRICS: dict[str, tuple[str, str]] = {
    "followers": ("Followers", "Followers at the day's last observation, summed over accounts."),
    "followers_change": (
        "Change in followers",
        "Followers at the end of the period minus followers at its start (sum of daily changes).",
    ),
    "growth_pct": ("Growth", "Change in followers in % of the followers at the period's start."),
    "engagement": (
        "Engagement",
        "Likes + reposts + replies + quotes of the posts published in the period, at their "
        "latest observation. Views are not engagement.",
    ),
    "engagement_rate": (
        "Engagement rate",
        "Engagement divided by followers at the end of the period.",
    ),
    "engagement_activity": (
        "Engagement activity",
        "Interactions gained in the period by all posts, whenever they were published.",
    ),
    "posts_published": ("Posts published", "Posts (not reposts) published in the period."),
    "likes": ("Likes", "Likes (favourites, reactions) of the posts published in the period."),
    "reposts": ("Reposts", "Reposts (retweets, boosts, shares) of the posts of the period."),
    "replies": ("Replies", "Replies (comments) to the posts published in the period."),
    "quotes": ("Quotes", "Quote posts of the posts published in the period."),
    "views": (
        "Views",
        "Views (impressions, plays) where the platform reports them; empty elsewhere.",
    ),
    "overperformance": (
        "Overperformance",
        "A post's engagement divided by the median of the account's previous 20 posts of the "
        "same type at the same age: 2.0 is twice the usual.",
    ),
    "completeness": (
        "Completeness",
        "Posts collected divided by the posts the platform says exist (its own count).",
    ),
    "freshness": (
        "Freshness",
        "1 while the newest observation is within the tier's collection interval, falling to 0 "
        "as it ages past it.",
    ),
    "validity": ("Validity", "Share of the day's rows that met every rule (not quarantined)."),
    "overall": ("Quality score", "Weighted mean of completeness, freshness, validity and drift."),
    "success_rate": (
        "Success rate",
        "Accounts read completely or partially divided by accounts attempted (SLO: 99.5%).",
    ),
    "confidence": ("Confidence", "0-1: how far the event is past its threshold, and history."),
}

_served: dict[str, Settings] = {}
_CACHE_SIZE = 64
_cache: OrderedDict[tuple[Any, ...], pl.DataFrame] = OrderedDict()
_memo: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_cache_lock = threading.Lock()
#: The memo keys being computed, each with the event set when it is done (see :func:`memo`).
_computing: dict[tuple[Any, ...], tuple[int, threading.Event]] = {}
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def use_settings(settings: Settings | None) -> None:
    """The settings the pages of this process obey (login, agency access); None: the process
    settings (``HHS_*``). The server sets them when it starts."""
    if settings is None:
        _served.pop("settings", None)
    else:
        _served["settings"] = settings


def settings() -> Settings:
    """The settings the pages obey (see :func:`use_settings`)."""
    return _served.get("settings") or get_settings()


def metric_label(name: str) -> str:
    """The display label of a metric or column (``engagement_rate`` -> "Engagement rate")."""
    if name in METRICS:
        return METRICS[name][0]
    return name.replace("_", " ").capitalize()


def definition(name: str) -> str:
    """The definition of a metric or column, for tooltips (empty when none is known)."""
    if name in METRICS:
        return METRICS[name][1]
    return column_meanings().get(name, "")


def tooltip(name: str) -> pn.widgets.TooltipIcon:
    """An (i) icon whose tooltip defines the metric."""
    return pn.widgets.TooltipIcon(value=f"{metric_label(name)}: {definition(name)}", margin=(8, 4))


def escape_md(text: str | None) -> str:
    """Untrusted text made inert inside ``pn.pane.Markdown``: HTML escaped, Markdown escaped."""
    if text is None:
        return ""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(str(text), quote=True))


def sync_url(widget: Any, name: str) -> None:
    """Keep ``widget.value`` and the page URL's ``?name=`` query parameter in step, both ways.

    Outside a served session (a notebook) there is no URL, and this does nothing.
    """
    location = pn.state.location
    if location is not None:
        location.sync(widget, {"value": name})


#: Seconds a table's version is trusted before the Delta log is looked at again.
VERSION_TTL_S = 2.0
_versions: dict[tuple[str, str], tuple[float, int | None]] = {}


def _version(lake: Lake, table: str) -> int | None:
    key = (lake.uri, table)
    now = time.monotonic()
    seen = _versions.get(key)
    if seen is not None and now - seen[0] < VERSION_TTL_S:
        return seen[1]
    version = lake.version(table)
    _versions[key] = (now, version)
    return version


def memo[T](lake: Lake, tables: Sequence[str], key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, shared by every session until one of ``tables`` gets a new version.

    For a page's heavier figures: the first visitor computes them, the next ones (and the same
    filters chosen again) get them at once. ``key`` names the computation and its arguments
    (filters, period, the viewer's allowed agencies...). A key is computed by one thread at a
    time: another that asks for it meanwhile waits for that result instead of computing it too.
    """
    full = _memo_key(lake, tables, key)
    while True:
        with _cache_lock:
            if full in _memo:
                _memo.move_to_end(full)
                return cast("T", _memo[full])
            running = _computing.get(full)
            if running is None or running[0] == threading.get_ident():  # this thread computes it
                done = threading.Event()
                _computing[full] = (threading.get_ident(), done)
                # the same computation of older table versions is never asked for again: its
                # memory (a page's search index, say) is freed before the new one is made
                for old in [k for k in _memo if k[1] == full[1] and k[3] == key]:
                    del _memo[old]
                break
        # another session (or a page's warm-up) is computing it: wait, then take its result
        running[1].wait()
    try:
        value = compute()
        with _cache_lock:
            _memo[full] = value
            while len(_memo) > _CACHE_SIZE:
                _memo.popitem(last=False)
    finally:
        with _cache_lock:
            if _computing.get(full, (None, None))[1] is done:
                del _computing[full]
        done.set()  # a failed computation wakes the waiters, and each tries in turn
    return value


def _memo_key(lake: Lake, tables: Sequence[str], key: Hashable) -> tuple[Any, ...]:
    return ("memo", lake.uri, tuple(_version(lake, t) for t in tables), key)


def peek(lake: Lake, tables: Sequence[str], key: Hashable) -> Any | None:
    """What :func:`memo` holds for ``key`` at the tables' current versions, or None (without
    computing it, or waiting for a computation under way)."""
    full = _memo_key(lake, tables, key)
    with _cache_lock:
        if full in _memo:
            _memo.move_to_end(full)
            return _memo[full]
    return None


def read(
    lake: Lake,
    table: str,
    columns: Sequence[str] | None = None,
    where: pl.Expr | None = None,
) -> pl.DataFrame:
    """Read some columns and rows of a table, cached until the table gets a new version.

    The filter is pushed into the Delta scan (partition and file skipping), so a page reads only
    what it shows. Sessions share the cache: the second visitor of a page reads nothing.

    Args:
        lake: The lake.
        table: A table of the catalogue.
        columns: Columns to read (None: all of them).
        where: A polars filter expression over the table's columns.

    Returns:
        The rows, or an empty frame with the table's schema when the table does not exist yet.
    """
    spec = table_spec(table)
    wanted = list(columns) if columns is not None else list(spec.schema)
    version = _version(lake, table)
    if version is None:
        return spec.empty().select(wanted)
    key = (
        lake.uri,
        table,
        version,
        tuple(wanted),
        None if where is None else where.meta.serialize(format="json"),
    )
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    lf = lake.scan(table, version=version)
    if where is not None:
        lf = lf.filter(where)
    frame = lf.select(wanted).collect()
    with _cache_lock:
        _cache[key] = frame
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return frame


def current_user() -> str | None:
    """The logged-in user of this session (None without login)."""
    user = pn.state.user
    return str(user) if user else None


def current_role() -> security.Role:
    """The role of this session's user (``HHS_DASHBOARD_ROLES``; ``admin`` without roles)."""
    return security.role_of(current_user(), settings())


def allowed_agencies(user: str | None = None) -> frozenset[str] | None:
    """The agencies the viewer may see, from ``HHS_DASHBOARD_AGENCY_ACCESS``; None: all.

    The setting maps a user name to agency codes; ``*`` holds the default of users not listed.
    A viewer allowed an agency also sees the agencies below it in the registry's hierarchy.
    Without the setting every viewer sees everything; with it, a user matching no entry and no
    ``*`` sees nothing.
    """
    access = settings().dashboard_agency_access
    if not access:
        return None
    user = user if user is not None else current_user()
    # With roles, only viewers are limited to their agencies.
    if security.roles_in_force(settings()) and security.at_least(
        security.role_of(user, settings()), "analyst"
    ):
        return None
    granted = access.get(user or "", access.get("*"))
    if granted is None:
        return frozenset()
    if "*" in granted:
        return None
    return _with_descendants(frozenset(granted))


def _with_descendants(agencies: frozenset[str]) -> frozenset[str]:
    from hhs_platform.registry import load_registry

    try:
        pairs = (
            load_registry(settings().accounts_file)
            .select("agency", "parent_agency")
            .unique()
            .rows()
        )
    except (OSError, HhsError):  # without a readable registry the grant is taken as written
        return agencies
    out = set(agencies)
    grew = True
    while grew:
        below = {a for a, parent in pairs if parent in out and a not in out}
        out |= below
        grew = bool(below)
    return frozenset(out)


def restrict(frame: pl.DataFrame, column: str = "agency") -> pl.DataFrame:
    """Only the rows of the agencies the viewer may see (no-op without a restriction)."""
    allowed = allowed_agencies()
    if allowed is None:
        return frame
    return frame.filter(pl.col(column).is_in(sorted(allowed)))


def export_buttons(
    get_frame: Callable[[], pl.DataFrame], name: str, table: str | None = None
) -> pn.FlexBox:
    """Download buttons for the current view: CSV, Excel, Parquet and its data dictionary.

    Args:
        get_frame: Called at click time: the rows the view shows now.
        name: File name stem (e.g. ``executive-accounts``).
        table: The table the view comes from (its schema describes the columns).

    A viewer below the analyst role (``HHS_DASHBOARD_ROLES``) gets a note instead of buttons.
    """
    if not security.at_least(current_role(), security.EXPORT_ROLE):
        return pn.FlexBox(
            pn.pane.HTML("Downloads need the analyst role.", margin=(8, 10)),
            sizing_mode="stretch_width",
        )

    def file(fmt: str) -> Callable[[], Any]:
        def make() -> Any:
            import io

            return io.BytesIO(to_bytes(get_frame(), fmt, table=table))

        return make

    def dictionary() -> Any:
        import io

        return io.BytesIO(dictionary_csv(get_frame(), table))

    labels = {"csv": "CSV", "xlsx": "Excel", "parquet": "Parquet"}
    buttons = [
        pn.widgets.FileDownload(
            callback=file(fmt),
            filename=f"{name}{suffix}",
            label=f"Download {labels[fmt]}",
            embed=False,
            width=150,
        )
        for fmt, suffix in FORMATS.items()
    ]
    buttons.append(
        pn.widgets.FileDownload(
            callback=dictionary,
            filename=f"{name}.dictionary.csv",
            label="Data dictionary",
            embed=False,
            width=150,
        )
    )
    # A FlexBox wraps on a phone where a Row of four buttons would overflow.
    return pn.FlexBox(*buttons, sizing_mode="stretch_width")


def freshness(lake: Lake, now: datetime | None = None) -> tuple[datetime | None, float | None]:
    """The newest observation gold knows of (its last build's watermark) and its age in hours."""
    builds = read(lake, "gold/builds", columns=["watermark"])
    newest = builds["watermark"].max() if not builds.is_empty() else None
    if not isinstance(newest, datetime):
        return None, None
    now = now or datetime.now(UTC)
    return newest, max(0.0, (now - newest).total_seconds() / 3600)


def freshness_badge(lake: Lake) -> pn.pane.HTML:
    """ "Data as of ..." with its age, coloured and worded (colour is never the only signal)."""
    newest, hours = freshness(lake)
    if newest is None or hours is None:
        text, colour, word = "No data collected yet", BAD, "No data"
    else:
        cadence = max(settings().quality_cadence_hours.values(), default=24.0)
        if hours <= cadence:
            colour, word = GOOD, "Fresh"
        elif hours <= 2 * cadence:
            colour, word = NEUTRAL, "Ageing"
        else:
            colour, word = BAD, "Stale"
        age = f"{hours:.0f} h" if hours < 72 else f"{hours / 24:.0f} days"
        text = f"Data as of {newest:%Y-%m-%d %H:%M} UTC ({age} ago)"
    return pn.pane.HTML(
        f'<span role="status" title="Newest observation gold was built from" '
        f'style="display:inline-block;padding:4px 10px;border-radius:12px;'
        f'border:2px solid {colour};color:{colour};font-weight:600">'
        f"{html.escape(word)}: {html.escape(text)}</span>",
        margin=(12, 10),
    )


def nav(slug: str) -> pn.pane.HTML:
    """Links to every page; the current one marked for assistive technology."""
    links = " · ".join(
        f'<a href="./{s}" aria-current="page" style="font-weight:700">{html.escape(label)}</a>'
        if s == slug
        else f'<a href="./{s}">{html.escape(label)}</a>'
        for s, label in NAV.items()
        if security.may_open(current_role(), s)
    )
    return pn.pane.HTML(f'<nav aria-label="Dashboards">{links}</nav>', margin=(12, 10))


def _charts_on_canvas() -> None:
    """Draw the pages' charts on a 2D canvas, not with WebGL (HoloViews' default).

    The pages draw at most a few thousand points, where WebGL gains nothing, and without a GPU
    (virtual desktops, the headless browser of the tests) Chromium emulates it: copying each
    WebGL frame to the page took 110 ms of every filter change's 650 ms in the browser on the
    operations page. Set here, where every page is put together, rather than when this module
    is imported: the briefs import it for its palette and need no HoloViews.
    """
    from holoviews.plotting.bokeh import BokehRenderer

    BokehRenderer.webgl = False


def shell(slug: str, lake: Lake, *body: Any, title: str | None = None) -> pn.Column:
    """A page: its title, the navigation, the freshness badge, then ``body``."""
    _charts_on_canvas()
    heading = title or f"HHS social media — {NAV.get(slug, slug)}"
    user = current_user()
    who = [pn.pane.HTML(f"Signed in as {html.escape(user)}", margin=(12, 10))] if user else []
    return pn.Column(
        pn.pane.Markdown(f"# {escape_md(heading)}", margin=(0, 10)),
        pn.FlexBox(nav(slug), freshness_badge(lake), *who),
        *body,
        sizing_mode="stretch_width",
        max_width=1400,
    )


def empty_state(slug: str, lake: Lake, what: str) -> pn.Column:
    """The page shown while the tables it needs are empty: what is missing and what to run."""
    message = (
        f"### Nothing to show yet\n\nThe lake at {escape_md(lake.uri)} has no {escape_md(what)} "
        "yet. Run `hhs collect` (or `hhs demo`) to collect the accounts and build the tables, "
        "then reload this page."
    )
    return shell(
        slug, lake, pn.pane.Alert(message, alert_type="warning", sizing_mode="stretch_width")
    )


def set_changed(widget: Any, **values: Any) -> None:
    """Set only the parameters whose value differs (``==``) from the widget's.

    Param cannot compare Bokeh models, so setting a table's ``formatters`` or ``titles`` to an
    equal dict would still make it rebuild the table's columns, here and in the browser.
    """
    changed = {name: v for name, v in values.items() if getattr(widget, name) != v}
    if changed:
        widget.param.update(**changed)


class Later:
    """Sections of a page built after it has loaded, and kept up to date from then on.

    A page shows its first figures sooner when the sections below them are neither built, nor
    computed, nor drawn before they are (Panel's ``defer_load``: a spinner stands in until the
    session has loaded, then they follow). ``build()`` makes the sections' widgets, once;
    ``show()`` puts the current figures into them: right after they are built, then on each
    :meth:`refresh` (a page calls it on every filter change; it does nothing before). Outside a
    served session they are built when the page is first rendered.
    """

    def __init__(self, build: Callable[[], Sequence[Any]], show: Callable[[], None]) -> None:
        self._build, self._show = build, show
        self._items: list[Any] | None = None
        self.pane = cast(
            "pn.viewable.Viewable",
            # a function (Panel would take a bound method for a pane's own content)
            pn.panel(lambda: self._draw(), defer_load=True, sizing_mode="stretch_width"),
        )

    @property
    def built(self) -> bool:
        """Whether the sections exist (the page has loaded, or was rendered outside a server)."""
        return self._items is not None

    def _draw(self) -> pn.Column:
        if self._items is None:
            self._items = list(self._build())
            self._show()
        return pn.Column(*self._items, sizing_mode="stretch_width")

    def refresh(self) -> None:
        """Show the current figures in the sections, if they are built."""
        if self._items is not None:
            self._show()


def _same(a: Any, b: Any) -> bool:
    """Whether two chart inputs are equal: frames and series by their values (and types), tuples
    item by item."""
    if isinstance(a, pl.DataFrame) or isinstance(b, pl.DataFrame):
        return (
            isinstance(a, pl.DataFrame)
            and isinstance(b, pl.DataFrame)
            and a.schema == b.schema
            and a.equals(b)
        )
    if isinstance(a, pl.Series) or isinstance(b, pl.Series):
        return (
            isinstance(a, pl.Series)
            and isinstance(b, pl.Series)
            and a.equals(b, check_dtypes=True, check_names=True)
        )
    if isinstance(a, tuple | list) or isinstance(b, tuple | list):
        return (
            type(a) is type(b)
            and len(a) == len(b)
            and all(_same(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    try:
        return bool(type(a) is type(b) and a == b)
    except (TypeError, ValueError):  # values whose == is not a bool (arrays): draw again
        return False


def change_models(model: Any, change: Callable[[], None]) -> None:
    """Run ``change``, which sets properties of ``model`` (a Bokeh figure and what it holds),
    so that a served page gets them.

    Panel runs a session's callbacks without the Bokeh document's lock and sends its own
    widgets' changes itself; a Bokeh model changed directly there must be changed the same way
    (``pn.io.unlocked``), or Bokeh refuses it. From another thread or session the change waits
    for the document's next turn. A model on no served page is changed at once.
    """
    doc = model.document
    if doc is None or doc.session_context is None:
        change()  # not on a served page (yet): nothing to send
    elif pn.state._unblocked(doc):
        # in the session's own callback: send the changes now, as Panel's widgets do
        with pn.io.unlocked():
            change()
    else:  # another session's or thread's turn: change it under the document's lock
        doc.add_next_tick_callback(change)


#: The tools of the pages' Bokeh figures.
FIGURE_TOOLS = "pan,wheel_zoom,box_zoom,reset,save"


def live_figure(**options: Any) -> Any:
    """A Bokeh figure as the pages draw theirs: as wide as the page, the toolbar above, the
    title a ``Title`` of its own (``figure.title``, which :class:`LiveFigure` sets)."""
    from bokeh.models.annotations import Title
    from bokeh.plotting import figure

    defaults: dict[str, Any] = {
        "title": Title(text=""),
        "sizing_mode": "stretch_width",
        "toolbar_location": "above",
        "tools": FIGURE_TOOLS,
    }
    return figure(**(defaults | options))


def once_on_screen(callback: Callable[[], None]) -> None:
    """Call ``callback`` once the served page is on screen (Panel's ``onload``); outside a
    served session (a notebook, a test) never."""
    doc = pn.state.curdoc
    if doc is not None and doc.session_context is not None:
        pn.state.onload(callback)


def in_background(name: str, jobs: Sequence[tuple[str, Callable[[], object]]]) -> threading.Thread:
    """Run ``jobs`` (a name and a function each) one after another in a daemon thread.

    For figures a page computes ahead into the shared cache (:func:`memo`): a job that fails is
    logged and the next one runs; the page computes the figures when asked, and says what failed.
    """
    log = logging.getLogger(__name__)

    def run() -> None:
        for what, job in jobs:
            try:
                job()
            except Exception:
                log.warning("%s: computing %s ahead failed", name, what)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


class LiveFigure:
    """A Bokeh figure drawn once, whose glyphs' data, ranges and labels a page then sets in place.

    Updated through HoloViews (a ``DynamicMap`` fed by a ``Pipe``, as the pages' charts were
    until 2026-12-02), every update holds the page's Bokeh document frozen while it patches the
    figure; when it lets go, Bokeh walks every model of the page to find new ones
    (``Document.models.recompute``), whether the update made any or not: half of each chart's
    25-70 ms per filter change on the executive page, with its five tables. HoloViews' heatmap
    also grids its cells again on every update (0.3 s for 40 accounts over 450 days). Setting
    the data of glyphs that never change takes a millisecond or two.

    A subclass makes :attr:`figure` and :attr:`pane`, and puts data into the figure in
    ``_put(*data)``; :meth:`_draw` calls it, through :func:`change_models`, unless the figure
    shows that data already.
    """

    figure: Any = None
    pane: Any
    _shown: tuple[Any, ...] | None = None

    def _put(self, *data: Any) -> None:
        raise NotImplementedError

    def _draw(self, *data: Any) -> bool:
        """Put ``data`` into the figure; ``False`` when it shows that data already."""
        if self._shown is not None and _same(self._shown, data):
            return False
        self._shown = data
        change_models(self.figure, lambda: self._put(*data))
        return True


class LiveBars(LiveFigure):
    """A bar chart of one value per date: drawn once with hvPlot, then updated in its data source
    (see :class:`LiveFigure`).

    ``build(frame)`` makes the chart (an hvPlot or HoloViews bar element over columns ``x`` and
    ``y``); it is called once, on a placeholder row (hvPlot formats the hover's dates only for a
    column that has values). Dates equal to what the chart shows are not sent again.
    """

    def __init__(
        self, build: Callable[[pl.DataFrame], Any], x: str, y: str, **pane_options: Any
    ) -> None:
        self._build, self.x, self.y = build, x, y
        self.pane = pn.pane.Bokeh(**pane_options)

    def show(self, frame: pl.DataFrame) -> bool:
        """Draw ``frame``'s ``x`` and ``y`` columns (one bar per row; nulls draw no bar).

        Returns:
            Whether the chart was drawn (``False``: it shows those values already).
        """
        frame = frame.select(self.x, self.y)
        if self.figure is None:
            import holoviews as hv

            placeholder = pl.DataFrame(
                {self.x: [datetime(2000, 1, 1).date()], self.y: [0]}, schema=frame.schema
            )
            self.figure = hv.render(self._build(placeholder), backend="bokeh")
            self.pane.object = self.figure
        return self._draw(frame)

    def _put(self, frame: pl.DataFrame) -> None:
        import numpy as np

        (renderer,) = self.figure.renderers  # a bar chart: one glyph
        days = frame[self.x].to_numpy().astype("datetime64[ms]")
        values = frame[self.y].cast(pl.Float64).to_numpy()
        renderer.data_source.data = {self.x: days, self.y: values}
        x_range, y_range = self.figure.x_range, self.figure.y_range
        if len(days):
            # the bars are 0.8 of a day wide: a little room beside the first and last
            half = np.timedelta64(12, "h")
            x_range.update(start=days.min() - half, end=days.max() + half)
            x_range.update(reset_start=x_range.start, reset_end=x_range.end)
        shown = values[~np.isnan(values)]
        low = min(0.0, float(shown.min())) if len(shown) else 0.0
        high = max(0.0, float(shown.max())) if len(shown) else 0.0
        room = 0.05 * (high - low) or 1.0
        y_range.update(
            start=low - room if low < 0 else 0.0, end=high + room if high > 0 or low == 0 else 0.0
        )
        y_range.update(reset_start=y_range.start, reset_end=y_range.end)


#: The rows each table shows, and the pandas frame it got them as (see :func:`show_rows`).
_shown: weakref.WeakKeyDictionary[Any, tuple[pl.DataFrame, Any]] = weakref.WeakKeyDictionary()


def show_rows(table: pn.widgets.Tabulator, frame: pl.DataFrame) -> bool:
    """Put ``frame``'s rows into ``table``, unless it shows those rows already.

    A filter change often leaves some of a page's tables as they were (the heatmap colour does
    not move the runs table). Sending their rows again costs a pandas conversion here and a
    redraw of the table in the browser. A table whose value was set some other way gets the
    rows again.

    Returns:
        Whether the table got new rows.
    """
    last = _shown.get(table)
    if last is not None and table.value is last[1] and last[0].equals(frame):
        return False
    table.value = frame.to_pandas()
    _shown[table] = (frame, table.value)
    return True


def with_texts(frame: pl.DataFrame, formats: Mapping[str, Callable[[Any], str]]) -> pl.DataFrame:
    """``frame`` with a ``<column>_text`` column for each of ``formats``' columns: its values as
    the format writes them (null: empty), which a table shows through :func:`shown_as_text`.

    A table whose number format follows a filter (a count, a rate) then changes only its rows,
    never its columns. A new formatter or title makes Panel build the table's column models
    again, walk the page's models, and the browser lay the table out again: 300-500 ms of each
    metric change on the trends page of the large benchmark lake, where the rows alone took
    under 250 ms. The number column itself stays a number, which the table sorts by.
    """
    return frame.with_columns(
        pl.col(column)
        .map_elements(write, return_dtype=pl.String, skip_nulls=True)
        .fill_null("")
        .alias(f"{column}_text")
        for column, write in formats.items()
    )


def shown_as_text(column: str) -> Any:
    """A table cell formatter that shows a number column's ``<column>_text`` (made by
    :func:`with_texts`; escaped), so that the column keeps its numbers for sorting.
    :func:`table_widget` gives it to every such column."""
    from bokeh.models.widgets.tables import HTMLTemplateFormatter

    return HTMLTemplateFormatter(template=f"<%- {column}_text %>")


class Select(pn.widgets.Select):
    """A select whose new choice the server acts on at once.

    Panel waits 50 ms after a widget's change for more changes of the same widget before it
    calls back (``_debounce``, made for widgets that change at every key or drag); a choice
    from a list comes alone, so the page's filters skip that wait, as Panel's own Tabulator
    does for its data (``_priority_changes``).
    """

    _priority_changes: ClassVar[list[str]] = ["value"]


#: What a table without rows shows in its body.
NO_ROWS = "No rows for this selection."
#: A table's header and pager, and one row of one line of text, in the browser (px).
TABLE_CHROME_PX, TABLE_ROW_PX = 61, 29


def table_widget(
    frame: pl.DataFrame,
    titles: dict[str, str] | None = None,
    formatters: dict[str, Any] | None = None,
    **kw: Any,
) -> pn.widgets.Tabulator:
    """A read-only table paginated on the server (Tabulator escapes cell text: safe for
    untrusted text).

    A table paginated on the server is as high as a full page of one-line rows, whatever it
    shows (taller rows scroll inside it), unless ``height`` says otherwise: a table whose height
    changes with its rows makes the browser lay it out and draw it again whole (Panel's resize
    handler), which took 150 ms of a filter change's 350-450 on the anomalies page.

    A number column with a ``<column>_text`` column beside it (:func:`with_texts`) shows that
    text (:func:`shown_as_text`, unless ``formatters`` says otherwise), and the text column is
    hidden.
    """
    texts = [c for c in frame.columns if f"{c}_text" in frame.columns]
    options: dict[str, Any] = {
        "disabled": True,
        "show_index": False,
        "pagination": "remote",  # the browser gets one page, not the whole table
        "page_size": 10,
        "sizing_mode": "stretch_width",
        "layout": "fit_data_table",
        "titles": {c: metric_label(c) for c in frame.columns} | (titles or {}),
        "formatters": {c: shown_as_text(c) for c in texts} | (formatters or {}),
        "header_tooltips": {c: definition(c) for c in frame.columns if definition(c)},
    }
    options.update(kw)
    options["hidden_columns"] = [*options.get("hidden_columns", []), *(f"{c}_text" for c in texts)]
    if options["pagination"] == "remote" and options.get("height") is None:
        options["height"] = TABLE_CHROME_PX + TABLE_ROW_PX * options["page_size"]
    # a table of fixed height says so when it has no rows, instead of showing blank space
    options["configuration"] = {"placeholder": NO_ROWS, **options.get("configuration", {})}
    table = pn.widgets.Tabulator(frame.to_pandas(), **options)
    _shown[table] = (frame, table.value)
    return table


__all__ = [
    "BAD",
    "FIGURE_TOOLS",
    "GOOD",
    "METRICS",
    "NAV",
    "NEUTRAL",
    "NO_ROWS",
    "PALETTE",
    "Later",
    "LiveBars",
    "LiveFigure",
    "Select",
    "allowed_agencies",
    "change_models",
    "current_role",
    "current_user",
    "definition",
    "empty_state",
    "escape_md",
    "export_buttons",
    "freshness",
    "freshness_badge",
    "in_background",
    "live_figure",
    "memo",
    "metric_label",
    "nav",
    "once_on_screen",
    "read",
    "restrict",
    "set_changed",
    "settings",
    "shell",
    "show_rows",
    "shown_as_text",
    "sync_url",
    "table_widget",
    "tooltip",
    "use_settings",
    "with_texts",
]
