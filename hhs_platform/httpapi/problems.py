"""Errors of the HTTP API as RFC 9457 problem details (``application/problem+json``).

Raise :class:`Problem` anywhere in a request; the handlers installed by :func:`install` turn it,
FastAPI's validation errors and any unexpected exception into a problem body. A 500 says only
that the server failed and gives a reference to its log line: never a traceback or a value.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

MEDIA_TYPE = "application/problem+json"
#: Base of the ``type`` URIs; each problem type is documented at docs/http-api.md#<slug>.
TYPE_BASE = "https://hhs-social-platform.example/problems/"

log = logging.getLogger(__name__)


class Problem(Exception):
    """An error the API answers as problem details.

    Args:
        status: HTTP status.
        slug: The problem type (``unauthorized``, ``forbidden``, ``not-found``,
            ``invalid-parameter``, ``rate-limited``...), appended to ``TYPE_BASE``.
        title: A short, fixed summary of the type.
        detail: What happened this time, for a person to read.
        headers: Extra response headers (``WWW-Authenticate``, ``Retry-After``).
        extra: Extension members (e.g. ``errors`` for invalid parameters).
    """

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.headers = headers or {}
        self.extra = extra

    def body(self, instance: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"type": TYPE_BASE + self.slug, "title": self.title}
        out["status"] = self.status
        if self.detail:
            out["detail"] = self.detail
        if instance:
            out["instance"] = instance
        return out | self.extra


def response(problem: Problem, request: Request | None = None) -> JSONResponse:
    """The problem as a response."""
    instance = request.url.path if request is not None else None
    return JSONResponse(
        problem.body(instance),
        status_code=problem.status,
        media_type=MEDIA_TYPE,
        headers=problem.headers,
    )


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` as problem details."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"parameter": ".".join(str(p) for p in e.get("loc", ())[1:]), "message": e.get("msg")}
            for e in exc.errors()
        ]
        return response(
            Problem(
                422,
                "invalid-parameter",
                "Invalid parameter",
                "; ".join(f"{e['parameter']}: {e['message']}" for e in errors),
                errors=errors,
            ),
            request,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
        return response(
            Problem(exc.status_code, slug, title, str(exc.detail) if exc.detail else None),
            request,
        )

    # Not an exception handler for Exception: Starlette re-raises after such a handler, and
    # uvicorn then drops the keep-alive connection. The middleware answers and ends the request.
    app.add_middleware(_CatchAll)


class _CatchAll:
    """ASGI middleware: an unexpected exception before the response started becomes a 500
    problem, logged with a reference the body gives (never the exception's text)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            if started:
                raise
            ref = uuid.uuid4().hex[:12]
            path = scope.get("path", "")
            log.error("request %s failed (ref %s)", path, ref, exc_info=exc)
            problem = Problem(
                500, "server-error", "Server error", f"the server failed; reference {ref}"
            )
            body = JSONResponse(problem.body(path), status_code=500, media_type=MEDIA_TYPE)
            await body(scope, receive, send)


__all__ = ["MEDIA_TYPE", "TYPE_BASE", "Problem", "install", "response"]
