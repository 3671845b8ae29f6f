"""Every error of the HTTP API is a problem body, and a server failure keeps the connection."""

from __future__ import annotations

import http.client
import json

from dashboard_lakes import free_port
from fastapi import FastAPI

from hhs_platform.httpapi import problems
from hhs_platform.httpapi.app import Server


def test_a_failure_is_a_500_problem_and_the_connection_stays_usable() -> None:
    app = FastAPI()
    problems.install(app)

    @app.get("/boom")
    def boom() -> dict[str, str]:
        raise RuntimeError("token=very-secret-value")  # pragma: allowlist secret

    @app.get("/ok")
    def ok() -> dict[str, str]:
        return {"ok": "yes"}

    port = free_port()
    server = Server(app, "127.0.0.1", port).start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/boom")
        first = conn.getresponse()
        body = json.loads(first.read())
        assert first.status == 500
        assert first.getheader("content-type") == problems.MEDIA_TYPE
        assert body["type"].endswith("/server-error") and body["instance"] == "/boom"
        assert "very-secret-value" not in json.dumps(body)  # pragma: allowlist secret
        # the same keep-alive connection answers the next request
        conn.request("GET", "/ok")
        second = conn.getresponse()
        assert (second.status, json.loads(second.read())) == (200, {"ok": "yes"})
        conn.request("GET", "/missing")
        third = conn.getresponse()
        assert third.status == 404 and json.loads(third.read())["type"].endswith("/not-found")
        conn.close()
    finally:
        server.stop()
