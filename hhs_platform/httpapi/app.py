"""The HTTP API application: ``create_app`` builds it, ``serve`` runs it with uvicorn.

The OpenAPI document is generated from the routes and their pydantic models
(:func:`openapi_document`); the server publishes it at ``/v1/openapi.json`` with an interactive
explorer at ``/v1/docs``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from hhs_platform import __version__
from hhs_platform.httpapi import auth, problems
from hhs_platform.httpapi.snapshots import Snapshots
from hhs_platform.httpapi.v1 import ProblemBody, open_router, router, warm
from hhs_platform.lake import Lake
from hhs_platform.settings import Settings, get_settings

TITLE = "HHS social media figures API"
DESCRIPTION = (
    "Read-only access to the figures and posts the platform collects from the official social "
    "media accounts of U.S. HHS agencies. Every answer is `{data, meta}`; errors are RFC 9457 "
    "problem details. Send an API token as `Authorization: Bearer hhs_<id>_<secret>`. "
    "Guide: docs/http-api.md."
)
log = logging.getLogger(__name__)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def lifecycle_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    """The Deprecation (RFC 9745) and Sunset (RFC 8594) headers every /v1 answer carries once
    HHS_API_V1_DEPRECATED_AT / HHS_API_V1_SUNSET_AT are set (none before)."""
    headers: list[tuple[bytes, bytes]] = []
    if settings.api_v1_deprecated_at is not None:
        stamp = int(_utc(settings.api_v1_deprecated_at).timestamp())
        headers.append((b"deprecation", f"@{stamp}".encode()))
    if settings.api_v1_sunset_at is not None:
        when = format_datetime(_utc(settings.api_v1_sunset_at).astimezone(UTC), usegmt=True)
        headers.append((b"sunset", when.encode()))
    return headers


class _Lifecycle:
    """ASGI middleware adding the version's lifecycle headers to every /v1 answer."""

    def __init__(self, app: Any, headers: list[tuple[bytes, bytes]]) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith("/v1"):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.headers]}
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(settings: Settings | None = None, lake_uri: str | None = None) -> FastAPI:
    """The ``/v1`` API over one lake.

    Args:
        settings: Server, token and rate-limit settings; default: the process settings.
        lake_uri: Lake to serve (and to keep tokens and the request log in); ``None`` means
            ``HHS_LAKE_URI``.
    """
    chosen = settings or get_settings()
    app = FastAPI(
        title=TITLE,
        description=DESCRIPTION,
        version=__version__,
        openapi_url="/v1/openapi.json",
        docs_url="/v1/docs",
        redoc_url=None,
        servers=[{"url": "/", "description": "This server"}],
    )
    app.state.settings = chosen
    app.state.lake = Lake(lake_uri or chosen.lake_uri, chosen.lake_storage_options)
    app.state.snapshots = Snapshots(app.state.lake, ttl_s=chosen.api_snapshot_ttl_s)
    problems.install(app)
    headers = lifecycle_headers(chosen)
    if headers:
        app.add_middleware(_Lifecycle, headers=headers)
    auth.install(app)
    app.include_router(open_router)
    app.include_router(router)

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                servers=app.servers,
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["Problem"] = ProblemBody.model_json_schema()
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]
    return app


def openapi_document(app: FastAPI | None = None) -> dict[str, Any]:
    """The OpenAPI document of the API (without building a lake when ``app`` is None)."""
    chosen = app or create_app(Settings(_env_file=None), lake_uri="memory-unused")  # type: ignore[call-arg]
    return chosen.openapi()


def openapi_json(app: FastAPI | None = None) -> str:
    """The OpenAPI document as stable, indented JSON (as docs/reference/openapi.json holds it)."""
    return json.dumps(openapi_document(app), indent=2, sort_keys=True) + "\n"


class Server:
    """A uvicorn server run in a background thread (the demo and tests); ``stop()`` ends it."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        import uvicorn

        self.url = f"http://{host}:{port}"
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="hhs-api", daemon=True)

    def start(self, timeout: float = 30.0) -> Server:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the HTTP API did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def warm_up(app: FastAPI) -> None:
    """Load the snapshots the common queries read (``serve`` runs it in the background at
    start); a failure is logged, requests then load what they need themselves."""
    started = time.perf_counter()
    try:
        warm(app.state.snapshots)
    except Exception:
        log.exception("warming the API's snapshots failed")
        return
    log.info("API snapshots loaded in %.1f s", time.perf_counter() - started)


def serve(
    *,
    host: str | None = None,
    port: int | None = None,
    lake_uri: str | None = None,
    settings: Settings | None = None,
    threaded: bool = False,
) -> Server | None:
    """Serve the API at ``http://<host>:<port>/v1``.

    Args:
        host: Interface to bind; default ``HHS_API_HOST``.
        port: TCP port; default ``HHS_API_PORT``.
        lake_uri: Lake to serve; default ``HHS_LAKE_URI``.
        settings: Default: the process settings.
        threaded: Serve from a background thread and return a started :class:`Server` (whose
            ``stop()`` ends it); otherwise block until interrupted and return None.
    """
    chosen = settings or get_settings()
    app = create_app(chosen, lake_uri)
    threading.Thread(target=warm_up, args=(app,), name="hhs-api-warm", daemon=True).start()
    bind, number = host or chosen.api_host, port or chosen.api_port
    if threaded:
        return Server(app, bind, number).start()
    import uvicorn

    uvicorn.run(app, host=bind, port=number, log_level="info", access_log=False)
    return None


__all__ = [
    "Server",
    "create_app",
    "lifecycle_headers",
    "openapi_document",
    "openapi_json",
    "serve",
    "warm_up",
]
