"""The /v1 endpoints through a real uvicorn server over a copy of the world lake: every value
equals the lake's (computed here with polars), pagination, agency scoping and problem bodies."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest

from hhs_platform.httpapi.app import openapi_json
from hhs_platform.httpapi.v1 import open_router, router
from hhs_platform.registry import load_registry

PROBLEM = "application/problem+json"


class Api:
    """The running server (``world_api``: its lake and two tokens, one for every agency, one for
    CDC only) and a plain HTTP client of it."""

    def __init__(self, served: Any) -> None:
        self.served, self.every, self.cdc = served, served.every, served.cdc
        self.client = httpx.Client(base_url=served.url, timeout=30)

    def get(self, path: str, who: str | None = "every", **params: Any) -> httpx.Response:
        """GET as ``who``: "every", "cdc", None (no token) or a literal token."""
        bearer = {"every": self.every, "cdc": self.cdc}.get(who or "", who)
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        return self.client.get(path, params=params, headers=headers)

    def ok(self, path: str, who: str = "every", **params: Any) -> dict[str, Any]:
        response = self.get(path, who, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"data", "meta"}
        meta = body["meta"]
        assert meta["api_version"] == "v1"
        assert meta["count"] == (len(body["data"]) if isinstance(body["data"], list) else 1)
        return body  # type: ignore[no-any-return]

    def table(self, name: str) -> pl.DataFrame:
        return self.served.table(name)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def api(world_api: Any) -> Iterator[Api]:
    api = Api(world_api)
    yield api
    api.client.close()


def _typed(rows: list[dict[str, Any]], like: pl.DataFrame) -> pl.DataFrame:
    """API rows as a frame with ``like``'s columns and types (ISO strings parsed back)."""
    if not rows:
        return like.clear()
    frame = pl.DataFrame(rows, infer_schema_length=None).select(like.columns)
    casts = []
    for name, dtype in like.schema.items():
        if isinstance(dtype, pl.Datetime):
            casts.append(
                pl.col(name).cast(pl.Utf8).str.to_datetime(time_unit="us", time_zone="UTC")
            )
        elif dtype == pl.Date:
            casts.append(pl.col(name).cast(pl.Utf8).str.to_date())
        else:
            casts.append(pl.col(name).cast(dtype))
    return frame.with_columns(casts)


def _same(rows: list[dict[str, Any]], expected: pl.DataFrame) -> None:
    assert len(rows) == expected.height
    assert _typed(rows, expected).equals(expected), "API rows differ from the lake's"


def _accounts(api: Api) -> pl.DataFrame:
    return api.table("silver/accounts")


# -- contract -----------------------------------------------------------------------------------
def test_openapi_lists_every_route_and_the_published_copy_is_current(api: Api) -> None:
    document = api.client.get("/v1/openapi.json").json()
    served = {(path, method.upper()) for path, ops in document["paths"].items() for method in ops}
    routes = {
        (r.path.replace(":path", ""), m)
        for r in [*open_router.routes, *router.routes]
        for m in getattr(r, "methods", set())
        if m != "HEAD"
    }
    assert served == routes
    assert len(routes) == 12
    # every data route declares the bearer token and the problem answers
    for path, ops in document["paths"].items():
        if path != "/v1/health":
            assert ops["get"]["security"] == [{"token": []}], path
            assert PROBLEM in ops["get"]["responses"]["401"]["content"], path
    published = Path(__file__).parents[2] / "docs" / "reference" / "openapi.json"
    assert published.read_text(encoding="utf-8") == openapi_json(), (
        "run: python -m hhs_platform.docgen"
    )
    assert api.client.get("/v1/docs").status_code == 200


def test_requests_without_a_token_get_401_problems_and_no_data(api: Api) -> None:
    document = api.client.get("/v1/openapi.json").json()
    for path in document["paths"]:
        concrete = path.replace("{platform}", "bluesky").replace("{account_id}", "a")
        concrete = concrete.replace("{post_id}", "p")
        response = api.get(concrete, None)
        if path == "/v1/health":
            assert response.json()["data"] == {"status": "ok"}
            continue
        assert response.status_code == 401, path
        assert response.headers["content-type"] == PROBLEM
        assert response.headers["www-authenticate"].startswith("Bearer")
        body = response.json()
        assert body["status"] == 401 and body["type"].endswith("/unauthorized")
        assert "data" not in body
    bad = api.get("/v1/accounts", "hhs_000000000000_" + "x" * 43)  # pragma: allowlist secret
    assert bad.status_code == 401 and "data" not in bad.json()


# -- values -------------------------------------------------------------------------------------
def test_accounts_registry_and_account_figures_equal_the_lake(api: Api) -> None:
    accounts = _accounts(api)
    body = api.ok("/v1/accounts")
    expected = accounts.drop("run_id", "response_id", "connector_version").sort(
        "platform", "account_id"
    )
    _same(body["data"], expected.select(list(body["data"][0])))
    assert body["meta"]["next_cursor"] is None

    registry = (
        load_registry().filter(pl.col("agency") == "CDC").sort("agency", "platform", "handle")
    )
    rows = api.ok("/v1/registry", agency="CDC")["data"]
    _same(rows, registry.select(list(rows[0])))

    one = accounts.filter(pl.col("handle") == "cdc.gov").row(0, named=True)
    path = f"/v1/accounts/{one['platform']}/{one['account_id']}"
    assert api.ok(path)["data"]["account_key"] == one["account_key"]

    body = api.ok(f"{path}/metrics", since="2026-11-03", until="2026-11-09")
    daily = (
        api.table("gold/daily_account_metrics")
        .filter(
            (pl.col("account_id") == one["account_id"])
            & pl.col("date").is_between(dt.date(2026, 11, 3), dt.date(2026, 11, 9))
        )
        .sort("date")
    )
    assert daily.height == 7
    _same(body["data"], daily.select(list(body["data"][0])))
    definitions = body["meta"]["definitions"]
    assert definitions["followers"]["unit"] == "accounts"
    assert definitions["engagement"]["definition"] == "likes + reposts + replies + quotes."
    assert set(definitions) >= {"likes", "views", "engagement_rate", "engagement_activity"}


def test_posts_walk_every_post_exactly_once_in_a_stable_order(api: Api) -> None:
    posts = api.table("silver/posts")
    seen: list[tuple[str, str]] = []
    cursor, pages = None, 0
    while True:
        params: dict[str, Any] = {"limit": 200} | ({"cursor": cursor} if cursor else {})
        body = api.ok("/v1/posts", **params)
        seen += [(p["platform"], p["post_id"]) for p in body["data"]]
        pages += 1
        cursor = body["meta"]["next_cursor"]
        if cursor is None:
            break
    assert pages == -(-posts.height // 200)
    order = posts.sort(["created_at", "platform", "post_id"], descending=True)
    assert seen == list(zip(order["platform"], order["post_id"], strict=True))

    # filters: agency, platform, days, text; rows equal the lake's with the account's agency
    accounts = _accounts(api).select("platform", "account_id", "agency", "handle")
    body = api.ok(
        "/v1/posts",
        agency="CDC",
        platform="bluesky",
        since="2026-11-01",
        until="2026-11-14",
        q="XSSCHECK",
        limit=500,
    )
    expected = (
        posts.join(accounts, on=["platform", "account_id"])
        .filter(
            (pl.col("agency") == "CDC")
            & (pl.col("platform") == "bluesky")
            & pl.col("created_at").dt.date().is_between(dt.date(2026, 11, 1), dt.date(2026, 11, 14))
            & pl.col("text").str.to_lowercase().str.contains("xsscheck", literal=True)
        )
        .sort(["created_at", "platform", "post_id"], descending=True)
    )
    assert expected.height == 2
    _same(body["data"], expected.select(list(body["data"][0])))


def test_curve_agency_figures_anomalies_scorecard_equal_the_lake(api: Api) -> None:
    curves = api.table("gold/post_curves")
    post = curves.filter(pl.col("platform") == "bluesky").row(0, named=True)
    body = api.ok(f"/v1/posts/bluesky/{post['post_id']}/curve")
    expected = curves.filter(pl.col("post_id") == post["post_id"]).sort("age_hours")
    _same(body["data"], expected.select(list(body["data"][0])))
    assert body["meta"]["definitions"]["overperformance"]["unit"].startswith("ratio")

    agency = api.table("gold/agency_metrics")
    body = api.ok("/v1/agency-metrics", agency="HHS", platform="all", period="week")
    expected = agency.filter(
        (pl.col("agency") == "HHS") & (pl.col("platform") == "all") & (pl.col("period") == "week")
    ).sort("period_start")
    assert expected.height > 0
    _same(body["data"], expected.select(list(body["data"][0])))

    anomalies = api.table("gold/anomalies")
    body = api.ok("/v1/anomalies")
    expected = anomalies.sort(["date", "platform", "account_id", "metric", "kind"], descending=True)
    assert expected.height >= 1
    _same(body["data"], expected.select(list(body["data"][0])))

    scores = api.table("quality/scorecard")
    latest = scores.filter(pl.col("date") == pl.col("date").max()).sort("platform", "account_id")
    rows = api.ok("/v1/quality/scorecard")["data"]
    _same(rows, latest.select(list(rows[0])))
    rows = api.ok("/v1/quality/scorecard", since="2026-11-10", until="2026-11-11")["data"]
    assert (
        len(rows)
        == scores.filter(
            pl.col("date").is_between(dt.date(2026, 11, 10), dt.date(2026, 11, 11))
        ).height
    )


def test_freshness_and_runs_come_from_the_fetch_log(api: Api) -> None:
    log = api.table("bronze/fetch_log")
    body = api.ok("/v1/freshness")
    last = log.group_by("account_key").agg(pl.col("finished_at").max())
    assert {r["account_key"]: r["last_fetch_at"] for r in body["data"]} == {
        k: v.isoformat().replace("+00:00", "Z") for k, v in last.iter_rows()
    }
    for row in body["data"]:
        checked = dt.datetime.fromisoformat(row["checked_at"])
        success = dt.datetime.fromisoformat(row["last_success_at"])
        assert row["age_hours"] == pytest.approx((checked - success).total_seconds() / 3600)
        assert row["fresh"] == (row["age_hours"] <= row["cadence_hours"])

    runs = api.ok("/v1/runs", limit=500)["data"]
    counts = log.group_by("run_id").agg(
        pl.len().alias("accounts"), (pl.col("status") == "failed").sum().alias("failed")
    )
    assert {(r["run_id"], r["accounts"], r["failed"]) for r in runs} == set(counts.iter_rows())
    assert [r["run_id"] for r in api.ok("/v1/runs", limit=3)["data"]] == [
        r["run_id"] for r in runs[:3]
    ]
    assert runs[0]["started_at"] >= runs[-1]["started_at"]


# -- scoping and problems ----------------------------------------------------------------------
def test_a_cdc_token_sees_only_cdc(api: Api) -> None:
    accounts = _accounts(api)
    assert {a["agency"] for a in api.ok("/v1/accounts", "cdc")["data"]} == {"CDC"}
    cdc_posts = api.table("silver/posts").join(
        accounts.filter(pl.col("agency") == "CDC"), on=["platform", "account_id"]
    )
    body = api.ok("/v1/posts", "cdc", limit=500)
    assert {p["agency"] for p in body["data"]} == {"CDC"}
    assert len(body["data"]) == cdc_posts.height
    for path in ("/v1/anomalies", "/v1/quality/scorecard", "/v1/freshness", "/v1/registry"):
        assert {r["agency"] for r in api.ok(path, "cdc")["data"]} <= {"CDC"}, path
    assert {r["agency"] for r in api.ok("/v1/agency-metrics", "cdc")["data"]} == {"CDC"}

    forbidden = api.get("/v1/posts", "cdc", agency="FDA")
    assert forbidden.status_code == 403 and forbidden.headers["content-type"] == PROBLEM
    assert forbidden.json()["type"].endswith("/forbidden") and "data" not in forbidden.json()
    fda = accounts.filter(pl.col("agency") == "FDA").row(0, named=True)
    hidden = api.get(f"/v1/accounts/{fda['platform']}/{fda['account_id']}", "cdc")
    assert hidden.status_code == 404
    fda_post = api.ok("/v1/posts", agency="FDA", limit=1)["data"][0]
    assert (
        api.get(f"/v1/posts/{fda_post['platform']}/{fda_post['post_id']}/curve", "cdc").status_code
        == 404
    )


def test_errors_are_problem_details(api: Api) -> None:
    cases = [
        ("/v1/nowhere", {}, 404, "not-found"),
        ("/v1/accounts/bluesky/no-such-account", {}, 404, "not-found"),
        ("/v1/accounts/bluesky/no-such-account/metrics", {}, 404, "not-found"),
        ("/v1/posts/bluesky/no-such-post/curve", {}, 404, "not-found"),
        ("/v1/posts", {"limit": 501}, 422, "invalid-parameter"),
        ("/v1/posts", {"limit": 0}, 422, "invalid-parameter"),
        ("/v1/posts", {"since": "2026-13-01"}, 422, "invalid-parameter"),
        ("/v1/posts", {"since": "2026-11-10", "until": "2026-11-01"}, 422, "invalid-parameter"),
        ("/v1/posts", {"cursor": "not-a-cursor"}, 422, "invalid-parameter"),
        ("/v1/agency-metrics", {"period": "month"}, 422, "invalid-parameter"),
    ]
    for path, params, status, slug in cases:
        response = api.get(path, **params)
        assert response.status_code == status, (path, params, response.text)
        assert response.headers["content-type"] == PROBLEM
        body = response.json()
        assert body["type"].endswith(f"/{slug}") and body["status"] == status
        assert body["instance"] == path and "data" not in body
        if status == 422:
            assert body["errors"] and all(e["parameter"] for e in body["errors"]), body
    assert json.loads(api.get("/v1/posts", limit=501).text)["errors"][0]["parameter"] == "limit"
