"""API tokens: the CLI, authentication, expiry and revocation, rate limits and the request audit.

Runs a real uvicorn server over a temporary lake: a small app whose one data route lists the
agencies a token may read, guarded by ``authenticate`` like every ``/v1`` data route.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
import uvicorn
from dashboard_lakes import free_port
from fastapi import Depends, FastAPI
from typer.testing import CliRunner

from hhs_platform.cli import app as cli
from hhs_platform.httpapi import auth, problems, tokens
from hhs_platform.lake import Lake
from hhs_platform.settings import Settings

AGENCIES = ["CDC", "FDA", "NIH"]
PROBLEM = "application/problem+json"


def _app(lake: Lake, settings: Settings) -> FastAPI:
    app = FastAPI()
    app.state.lake, app.state.settings = lake, settings
    problems.install(app)
    auth.install(app)

    @app.get("/v1/health")
    def health() -> dict[str, Any]:
        return {"data": {"status": "ok"}}

    @app.get("/v1/agencies")
    def agencies(principal: auth.Principal = Depends(auth.authenticate)) -> dict[str, Any]:  # noqa: B008
        return {"data": [a for a in AGENCIES if principal.may_read(a)]}

    return app


class _Server:
    def __init__(self, app: FastAPI) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        port = int(self.url.rsplit(":", 1)[1])
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            assert self.thread.is_alive()
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _settings(**kw: Any) -> Settings:
    base = {"api_token_cache_seconds": 0, "api_audit_flush_seconds": 60}
    return Settings(_env_file=None, **(base | kw))  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return Lake(str(tmp_path_factory.mktemp("api_tokens_lake")), {})


@pytest.fixture(scope="module")
def served(lake: Lake) -> Iterator[tuple[FastAPI, str]]:
    app = _app(lake, _settings(api_rate_limit_per_minute=1000))
    server = _Server(app)
    try:
        yield app, server.url
    finally:
        server.stop()


def _get(url: str, bearer: str | None = None, **params: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
    return httpx.get(url, headers=headers, params=params, timeout=10)


def _assert_unauthorized(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["type"].endswith("/unauthorized") and body["status"] == 401
    assert "data" not in body and not any(a in response.text for a in AGENCIES)
    return body


def test_cli_creates_lists_and_revokes_tokens(tmp_path: Path) -> None:
    runner, where = CliRunner(), ["--lake", str(tmp_path / "lake")]
    created = runner.invoke(
        cli,
        [
            *("api", "token", "create", "--name", "cdc pages", "--agency", "CDC"),
            *("--agency", "NIH", "--expires-days", "30", "--rate-limit-per-minute", "7", *where),
        ],
    )
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    parsed = tokens.parse(token)
    assert parsed is not None
    token_id, secret = parsed
    assert len(secret) >= 43  # 32 random bytes, URL-safe base64
    everything = runner.invoke(cli, ["api", "token", "create", "--name", "all", *where])
    assert everything.exit_code == 0, everything.output

    listed = runner.invoke(cli, ["api", "token", "list", "--json", *where])
    assert listed.exit_code == 0, listed.output
    rows = {r["name"]: r for r in map(json.loads, listed.output.strip().splitlines())}
    assert set(rows) == {"cdc pages", "all"}
    mine = rows["cdc pages"]
    assert mine["token_id"] == token_id and mine["agencies"] == ["CDC", "NIH"]
    assert mine["rate_limit_per_minute"] == 7 and mine["revoked_at"] is None
    created_at = datetime.fromisoformat(mine["created_at"])
    assert datetime.fromisoformat(mine["expires_at"]) - created_at == timedelta(days=30)
    assert rows["all"]["agencies"] is None and rows["all"]["rate_limit_per_minute"] is None
    assert secret not in listed.output

    revoked = runner.invoke(cli, ["api", "token", "revoke", token_id, *where])
    assert revoked.exit_code == 0 and f"revoked {token_id}" in revoked.output
    text = runner.invoke(cli, ["api", "token", "list", *where]).output
    line = next(x for x in text.splitlines() if x.startswith(token_id))
    assert "revoked" in line and "[CDC,NIH]" in line and "7/min" in line
    unknown = runner.invoke(cli, ["api", "token", "revoke", "000000000000", *where])
    assert unknown.exit_code == 2 and "no token with id" in unknown.output


def test_token_reads_only_its_agencies(served: tuple[FastAPI, str], lake: Lake) -> None:
    _, url = served
    scoped, _ = tokens.create(lake, "scoped", ["FDA", "CDC"])
    every, _ = tokens.create(lake, "every")
    assert _get(f"{url}/v1/agencies", scoped).json() == {"data": ["CDC", "FDA"]}
    assert _get(f"{url}/v1/agencies", every).json() == {"data": AGENCIES}
    assert _get(f"{url}/v1/health").json() == {"data": {"status": "ok"}}  # open, no data


def test_missing_wrong_expired_and_revoked_tokens_get_401(
    served: tuple[FastAPI, str], lake: Lake
) -> None:
    _, url = served
    good, row = tokens.create(lake, "good")
    long_ago = datetime.now(UTC) - timedelta(days=10)
    expired, _ = tokens.create(lake, "expired", expires_days=1, now=long_ago)
    revoked, revoked_row = tokens.create(lake, "revoked")
    assert _get(f"{url}/v1/agencies", revoked).status_code == 200
    tokens.revoke(lake, revoked_row.token_id)

    wrong_secret = f"hhs_{row.token_id}_{'A' * 43}"  # pragma: allowlist secret
    unknown_id = f"hhs_{'0' * 12}_{good.split('_', 2)[2]}"
    missing = _assert_unauthorized(_get(f"{url}/v1/agencies"))
    assert "bearer token" in missing["detail"]
    for bad in ("not-a-token", good[:-1], wrong_secret, unknown_id):
        _assert_unauthorized(_get(f"{url}/v1/agencies", bad))
    assert "expired" in _assert_unauthorized(_get(f"{url}/v1/agencies", expired))["detail"]
    assert "revoked" in _assert_unauthorized(_get(f"{url}/v1/agencies", revoked))["detail"]
    basic = httpx.get(f"{url}/v1/agencies", auth=("user", good), timeout=10)
    _assert_unauthorized(basic)
    assert _get(f"{url}/v1/agencies", good).status_code == 200


def test_rate_limit_answers_429_with_retry_after(served: tuple[FastAPI, str], lake: Lake) -> None:
    _, url = served
    limited, _ = tokens.create(lake, "limited", rate_limit_per_minute=3)
    other, _ = tokens.create(lake, "other", rate_limit_per_minute=3)
    statuses = [_get(f"{url}/v1/agencies", limited).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    over = _get(f"{url}/v1/agencies", limited)
    assert over.status_code == 429 and over.headers["content-type"] == PROBLEM
    assert 1 <= int(over.headers["retry-after"]) <= 60
    assert over.json()["type"].endswith("/rate-limited") and "data" not in over.json()
    assert _get(f"{url}/v1/agencies", other).status_code == 200  # limits are per token


def test_rate_limiter_window() -> None:
    limiter = auth.RateLimiter(window=60)
    assert [limiter.hit("t", 2, now=t) for t in (0.0, 10.0)] == [None, None]
    assert limiter.hit("t", 2, now=20.0) == pytest.approx(40.0)  # the 0.0 hit leaves at 60
    assert limiter.hit("t", 2, now=60.0) is None
    assert limiter.hit("t", 2, now=61.0) == pytest.approx(9.0)


def test_requests_are_audited_without_secrets(
    served: tuple[FastAPI, str], lake: Lake, caplog: pytest.LogCaptureFixture
) -> None:
    app, url = served
    auth.flush(app)
    before = lake.read(auth.REQUESTS).height
    token, row = tokens.create(lake, "audited")
    secret = token.split("_", 2)[2]
    with caplog.at_level(logging.INFO, logger=auth.ACCESS_LOGGER):
        params = {"api_key": "k-123", "day": "2"}  # pragma: allowlist secret
        assert _get(f"{url}/v1/agencies", token, **params).status_code == 200
        assert _get(f"{url}/v1/agencies", token + "x").status_code == 401
        assert _get(f"{url}/v1/agencies").status_code == 401
        assert _get(f"{url}/v1/health").status_code == 200
    assert auth.flush(app) == 4
    audit = lake.read(auth.REQUESTS)
    assert audit.height == before + 4
    mine = audit.sort("requested_at").tail(4)
    assert mine.select("token_id", "method", "path", "query", "status").rows() == [
        (row.token_id, "GET", "/v1/agencies", "api_key=***&day=2", 200),
        (None, "GET", "/v1/agencies", None, 401),
        (None, "GET", "/v1/agencies", None, 401),
        (None, "GET", "/v1/health", None, 200),
    ]
    assert mine["client"].to_list() == ["127.0.0.1"] * 4
    assert (mine["elapsed_ms"] >= 0).all()
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == auth.ACCESS_LOGGER]
    assert [(x["token_id"], x["status"]) for x in lines] == [
        (row.token_id, 200),
        (None, 401),
        (None, 401),
        (None, 200),
    ]
    assert secret not in caplog.text and "k-123" not in caplog.text


def test_no_raw_secret_at_rest_and_shutdown_flushes(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"), {})
    token, row = tokens.create(lake, "at rest", ["CDC"])
    secret = token.split("_", 2)[2]
    app = _app(lake, _settings())
    server = _Server(app)
    try:
        assert _get(f"{server.url}/v1/agencies", token).json() == {"data": ["CDC"]}
        assert _get(f"{server.url}/v1/agencies", token, token=secret).status_code == 200
    finally:
        server.stop()  # the lifespan shutdown appends what is waiting
    audit = lake.read(auth.REQUESTS)
    assert audit["token_id"].to_list() == [row.token_id] * 2
    assert audit["query"].to_list() == [None, "token=***"]
    stored = lake.read(tokens.TOKENS)
    assert stored["secret_sha256"].to_list() == [tokens.hash_secret(secret)]
    files = [p for p in (tmp_path / "lake").rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in files)
    for path in files:
        data = path.read_bytes()
        assert secret.encode() not in data and token.encode() not in data, path


def test_token_store_caches_for_its_ttl(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"), {})
    _, row = tokens.create(lake, "cached")
    store = tokens.TokenStore(lake, ttl=60)
    assert store.get(row.token_id) == row
    tokens.revoke(lake, row.token_id)
    cached = store.get(row.token_id)
    assert cached is not None and cached.revoked_at is None  # still the copy read a moment ago
    fresh = tokens.TokenStore(lake, ttl=0).get(row.token_id)
    assert fresh is not None and fresh.revoked_at is not None
    assert pl.DataFrame(tokens.list_tokens(lake)).height == 1
