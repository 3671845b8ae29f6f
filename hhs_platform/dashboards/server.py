"""Serve the dashboards with Panel: one URL per page, each session built fresh from the lake.

Login is configured by settings (``HHS_DASHBOARD_PASSWORD`` or ``HHS_DASHBOARD_USERS_FILE`` for
basic auth, ``HHS_DASHBOARD_OAUTH_*`` for single sign-on); see docs/dashboards.md.
"""

from __future__ import annotations

import importlib
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import panel as pn
from tornado.ioloop import IOLoop

from hhs_platform.dashboards import kit, posts
from hhs_platform.dashboards.security import WebSecurity
from hhs_platform.errors import ConfigurationError
from hhs_platform.lake.store import Lake
from hhs_platform.settings import Settings, get_settings

PageFactory = Callable[[Lake | None], pn.viewable.Viewable]

#: The page modules of ``hhs_platform.dashboards``, in menu order; each has SLUG, TITLE, page().
PAGES: tuple[str, ...] = ("executive", "trends", "anomalies", "posts", "operations")


def _load() -> tuple[dict[str, PageFactory], dict[str, str]]:
    factories: dict[str, PageFactory] = {}
    titles: dict[str, str] = {}
    for name in PAGES:
        module = importlib.import_module(f"hhs_platform.dashboards.{name}")
        factories[module.SLUG] = module.page
        titles[module.SLUG] = module.TITLE
    return factories, titles


#: Every dashboard: URL path segment -> page factory (called with the lake, once per session).
#: Browser titles of the dashboards.
DASHBOARDS, TITLES = _load()


class Stoppable(Protocol):
    """A running server: ``stop()`` shuts it down."""

    def stop(self) -> None: ...


def dashboard_urls(*, port: int = 5006, address: str = "127.0.0.1") -> dict[str, str]:
    """The URL of every dashboard, e.g. ``{"executive": "http://127.0.0.1:5006/executive"}``."""
    host = "127.0.0.1" if address in ("", "0.0.0.0") else address  # noqa: S104
    return {name: f"http://{host}:{port}/{name}" for name in DASHBOARDS}


def _session(factory: PageFactory, lake_uri: str | None) -> Callable[[], pn.viewable.Viewable]:
    def build() -> pn.viewable.Viewable:
        # A new Lake per session: each visit reads the tables as they are now.
        return factory(Lake(lake_uri) if lake_uri is not None else Lake())

    return build


def _wait_listening(address: str, port: int, timeout_s: float) -> None:
    host = "127.0.0.1" if address in ("", "0.0.0.0") else address  # noqa: S104
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"the dashboards did not start listening on {host}:{port} in {timeout_s} s")


def serve_dashboards(
    *,
    port: int = 5006,
    address: str = "127.0.0.1",
    lake_uri: str | None = None,
    show: bool = False,
    threaded: bool = False,
    websocket_origin: list[str] | None = None,
    settings: Settings | None = None,
    warm: bool = False,
    security: WebSecurity | None = None,
) -> Stoppable:
    """Serve every dashboard at ``http://<address>:<port>/<name>``.

    Args:
        port: TCP port to listen on.
        address: Interface to bind (``0.0.0.0`` for every interface).
        lake_uri: Lake to read; ``None`` means the settings' lake (``HHS_LAKE_URI``).
        show: Open a browser tab.
        threaded: Serve from a background thread and return once the port accepts connections
            (for the demo and tests); otherwise block until the server stops.
        websocket_origin: Hosts (``host:port``) browsers may connect from; by default the
            address itself, ``localhost`` and ``127.0.0.1`` on the port.
        settings: Login settings; default: the process settings.
        warm: Build every page once before serving, so that the first visitor finds the
            figures of the default views computed (they stay cached until a table changes), and
            start making the Posts explorer's search index.
        security: Roles, rate limit, lockout, headers and access log; default: built from the
            settings (see ``hhs_platform.dashboards.security``).

    Returns:
        A handle whose ``stop()`` shuts the server down.
    """
    origins = websocket_origin or sorted(
        {f"{address}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"}
    )
    chosen = settings or get_settings()
    login = auth_options(chosen)
    guard = security or WebSecurity(chosen)
    # Login cookies expire after the session length (Panel reads it when it signs them).
    pn.config.oauth_expiry = chosen.dashboard_session_hours / 24  # type: ignore[misc]
    # Explicit settings bind the pages; otherwise each session reads the process settings.
    kit.use_settings(settings)
    pages = {name: _session(factory, lake_uri) for name, factory in DASHBOARDS.items()}
    server_id = uuid.uuid4().hex
    # The guard goes in before the first request is routed: as the loop's first callback when
    # threaded, before starting the server otherwise.
    loop = IOLoop(make_current=False) if threaded else None
    if loop is not None:
        loop.add_callback(lambda: guard.install(pn.state._servers[server_id][0]._tornado))
    if warm:
        # The Posts explorer's search index too, in the background: until it is ready, searches
        # read the lake.
        posts.prepare_index(Lake(lake_uri) if lake_uri is not None else Lake())
    server = pn.serve(
        pages,  # type: ignore[arg-type]
        port=port,
        address=address,
        websocket_origin=origins,
        show=show,
        threaded=threaded,
        start=threaded,
        loop=loop,
        server_id=server_id,
        title=TITLES,  # type: ignore[arg-type]
        verbose=False,
        warm=warm,
        **login,
        **guard.serve_options(),
    )
    if loop is not None:
        # Warming builds every page first: on a large lake that takes a while.
        _wait_listening(address, port, timeout_s=300 if warm else 30)
        return _Threaded(server, loop)
    guard.install(server._tornado)  # type: ignore[union-attr]
    server.start()  # type: ignore[union-attr]
    server.io_loop.start()  # type: ignore[union-attr]
    return server


class _Threaded:
    """A server running on its own thread and loop: ``stop()`` stops both."""

    def __init__(self, thread: Stoppable, loop: IOLoop) -> None:
        self._thread, self._loop = thread, loop

    def stop(self) -> None:
        self._thread.stop()
        self._loop.close()


def auth_options(settings: Settings) -> dict[str, Any]:
    """``pn.serve`` login options from the settings: OAuth, else basic auth, else none.

    Raises:
        ConfigurationError: Login is half configured (e.g. OAuth without a cookie secret).
    """
    cookie = settings.dashboard_cookie_secret
    if settings.dashboard_oauth_provider:
        missing = [
            name
            for name, value in (
                ("HHS_DASHBOARD_OAUTH_KEY", settings.dashboard_oauth_key),
                ("HHS_DASHBOARD_OAUTH_SECRET", settings.dashboard_oauth_secret),
                ("HHS_DASHBOARD_COOKIE_SECRET", cookie),
            )
            if not value
        ]
        if missing:
            raise ConfigurationError(
                f"HHS_DASHBOARD_OAUTH_PROVIDER={settings.dashboard_oauth_provider} needs "
                f"{', '.join(missing)} as well (see docs/dashboards.md, Login)"
            )
        secret = settings.dashboard_oauth_secret
        encryption = settings.dashboard_oauth_encryption_key
        return {
            "oauth_provider": settings.dashboard_oauth_provider,
            "oauth_key": settings.dashboard_oauth_key,
            "oauth_secret": secret.get_secret_value() if secret else None,
            "oauth_redirect_uri": settings.dashboard_oauth_redirect_uri,
            "oauth_extra_params": dict(settings.dashboard_oauth_extra_params),
            "oauth_encryption_key": encryption.get_secret_value() if encryption else None,
            "cookie_secret": cookie.get_secret_value() if cookie else None,
        }
    basic: str | None = None
    if settings.dashboard_users_file is not None:
        if not settings.dashboard_users_file.is_file():
            raise ConfigurationError(
                f"HHS_DASHBOARD_USERS_FILE={settings.dashboard_users_file} does not exist: "
                'write a JSON object {"user": "password", ...} there, or unset it'
            )
        basic = str(settings.dashboard_users_file)
    elif settings.dashboard_password is not None:
        basic = settings.dashboard_password.get_secret_value()
    if basic is None:
        return {}
    if cookie is None:
        raise ConfigurationError(
            "dashboard login needs HHS_DASHBOARD_COOKIE_SECRET (a long random string) to sign "
            "its cookies"
        )
    return {"basic_auth": basic, "cookie_secret": cookie.get_secret_value()}


__all__ = [
    "DASHBOARDS",
    "PAGES",
    "TITLES",
    "PageFactory",
    "auth_options",
    "dashboard_urls",
    "serve_dashboards",
]
