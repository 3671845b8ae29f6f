"""Serve the dashboards with Panel: one URL per page, each session built fresh from the lake."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Protocol

import panel as pn

from hhs_platform.dashboards.executive import TITLE as EXECUTIVE_TITLE
from hhs_platform.dashboards.executive import executive_page
from hhs_platform.lake.store import Lake

PageFactory = Callable[[Lake | None], pn.viewable.Viewable]

#: Every dashboard: URL path segment -> page factory (called with the lake, once per session).
DASHBOARDS: dict[str, PageFactory] = {"executive": executive_page}
#: Browser titles of the dashboards.
TITLES: dict[str, str] = {"executive": EXECUTIVE_TITLE}


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

    Returns:
        A handle whose ``stop()`` shuts the server down.
    """
    origins = websocket_origin or sorted(
        {f"{address}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"}
    )
    pages = {name: _session(factory, lake_uri) for name, factory in DASHBOARDS.items()}
    server: Stoppable = pn.serve(
        pages,  # type: ignore[arg-type]
        port=port,
        address=address,
        websocket_origin=origins,
        show=show,
        threaded=threaded,
        title=TITLES,  # type: ignore[arg-type]
        verbose=False,
    )
    if threaded:
        _wait_listening(address, port, timeout_s=30)
    return server


__all__ = ["DASHBOARDS", "TITLES", "PageFactory", "dashboard_urls", "serve_dashboards"]
