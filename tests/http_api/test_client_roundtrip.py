"""hhs_platform.client against the OpenAPI document and a real server over a copy of the world
lake: a method for every operation, row models with the document's fields, and every endpoint's
typed answer equal to the lake's rows (computed here with polars)."""

from __future__ import annotations

import datetime as dt
import inspect
import types
import typing
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest
from pydantic import BaseModel

from hhs_platform import client as api_client
from hhs_platform.client import ApiProblem, Client, Envelope, to_frame
from hhs_platform.httpapi.app import openapi_document
from hhs_platform.registry import load_registry

_JSON = {"string": str, "integer": int, "number": float, "boolean": bool, "null": type(None)}
_FORMATS = {"date-time": dt.datetime, "date": dt.date}


def _json_types(schema: dict[str, Any]) -> set[Any]:
    """Python types a JSON schema of the document allows (lists by their item types)."""
    if "anyOf" in schema:
        return set().union(*(_json_types(s) for s in schema["anyOf"]))
    if schema.get("type") == "array":
        return {("list", frozenset(_json_types(schema.get("items", {}))))}
    if "format" in schema:
        return {_FORMATS[schema["format"]]}
    return {_JSON[schema["type"]]}


def _hint_types(hint: Any) -> set[Any]:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return set().union(*(_hint_types(h) for h in typing.get_args(hint)))
    if typing.get_origin(hint) is list:
        return {("list", frozenset(_hint_types(typing.get_args(hint)[0])))}
    return {hint}


def _row_model(method: Any) -> tuple[type[BaseModel], bool]:
    """The row model a client method returns and whether ``data`` is a list of it."""
    envelope = typing.get_type_hints(method)["return"]
    data = envelope.model_fields["data"].annotation
    if typing.get_origin(data) is list:
        return typing.get_args(data)[0], True
    return data, False


def test_every_operation_has_a_method_with_its_parameters_and_fields() -> None:
    document = openapi_document()
    schemas = document["components"]["schemas"]
    operations = {path: ops["get"] for path, ops in document["paths"].items()}
    assert set(api_client.ENDPOINTS.values()) == set(operations)
    assert len(api_client.ENDPOINTS) == len(operations) == 12
    for name, path in api_client.ENDPOINTS.items():
        operation = operations[path]
        assert operation["operationId"].startswith(f"{name}_v1_"), (name, path)
        method = getattr(Client, name)
        accepted = set(inspect.signature(method).parameters) - {"self"}
        assert accepted == {p["name"] for p in operation.get("parameters", [])}, name

        ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        data = schemas[ref.rsplit("/", 1)[-1]]["properties"]["data"]
        model, is_list = _row_model(method)
        assert is_list == (data.get("type") == "array"), name
        row_ref = data["items"]["$ref"] if is_list else data["$ref"]
        row = schemas[row_ref.rsplit("/", 1)[-1]]
        assert model.__name__ == row["title"]
        assert list(model.model_fields) == list(row["properties"]), name
        hints = typing.get_type_hints(model)
        for field, schema in row["properties"].items():
            assert _hint_types(hints[field]) == _json_types(schema), (model.__name__, field)
            required = model.model_fields[field].is_required()
            assert required == (field in row.get("required", [])), (model.__name__, field)
    problem = schemas["Problem"]["properties"]
    assert set(problem) <= set(inspect.signature(ApiProblem).parameters)


@pytest.fixture(scope="module")
def api(world_api: Any) -> Iterator[Client]:
    """A client of the server over a copy of the world lake, with the every-agency token."""
    with Client(world_api.url, world_api.every) as client:
        yield client


def _same(rows: list[Any], expected: pl.DataFrame) -> None:
    """Typed rows equal the lake's rows (the model's columns, in the lake's types)."""
    assert len(rows) == expected.height
    if not rows:
        return
    frame = to_frame(rows)
    columns = [c for c in frame.columns if c in expected.columns]
    got = frame.select(columns).cast(dict(expected.select(columns).schema))
    assert got.equals(expected.select(columns)), "client rows differ from the lake's"


def test_every_endpoint_round_trips_the_lake(world_api: Any, api: Client) -> None:
    assert api.health().data.status == "ok"

    accounts = world_api.table("silver/accounts").sort("platform", "account_id")
    answer = api.accounts()
    assert isinstance(answer, Envelope) and answer.meta.count == accounts.height
    _same(answer.data, accounts)
    one = accounts.filter(pl.col("handle") == "cdc.gov").row(0, named=True)
    account = api.account(one["platform"], one["account_id"]).data
    assert account.model_dump() == {k: one[k] for k in account.model_dump()}

    days = api.account_metrics(
        one["platform"], one["account_id"], since=dt.date(2026, 11, 3), until=dt.date(2026, 11, 9)
    )
    daily = (
        world_api.table("gold/daily_account_metrics")
        .filter(
            (pl.col("account_id") == one["account_id"])
            & pl.col("date").is_between(dt.date(2026, 11, 3), dt.date(2026, 11, 9))
        )
        .sort("date")
    )
    assert daily.height == 7
    _same(days.data, daily)
    assert days.meta.definitions["followers"].unit == "accounts"

    registry = (
        load_registry().filter(pl.col("agency") == "CDC").sort("agency", "platform", "handle")
    )
    _same(api.registry(agency="CDC").data, registry)

    curves = world_api.table("gold/post_curves")
    post = curves.filter(pl.col("platform") == "bluesky").row(0, named=True)
    assert post["post_id"].startswith("at://")  # sent in the path as it is, slashes and all
    curve = api.post_curve("bluesky", post["post_id"])
    _same(curve.data, curves.filter(pl.col("post_id") == post["post_id"]).sort("age_hours"))

    agency = world_api.table("gold/agency_metrics").filter(
        (pl.col("agency") == "HHS") & (pl.col("platform") == "all") & (pl.col("period") == "week")
    )
    assert agency.height > 0
    weeks = api.agency_metrics(agency="HHS", platform="all", period="week").data
    _same(weeks, agency.sort("period_start"))

    anomalies = world_api.table("gold/anomalies")
    assert anomalies.height >= 1
    order = ["date", "platform", "account_id", "metric", "kind"]
    _same(api.anomalies().data, anomalies.sort(order, descending=True))

    scores = world_api.table("quality/scorecard")
    latest = scores.filter(pl.col("date") == pl.col("date").max()).sort("platform", "account_id")
    _same(api.scorecard().data, latest)

    log = world_api.table("bronze/fetch_log")
    last = dict(log.group_by("account_key").agg(pl.col("finished_at").max()).iter_rows())
    assert {f.account_key: f.last_fetch_at for f in api.freshness().data} == last

    counts = log.group_by("run_id").agg(
        pl.len().alias("accounts"), (pl.col("status") == "failed").sum().alias("failed")
    )
    runs = api.runs(limit=500).data
    assert {(r.run_id, r.accounts, r.failed) for r in runs} == set(counts.iter_rows())


def test_iter_posts_follows_the_cursors_over_every_post(world_api: Any, api: Client) -> None:
    posts = world_api.table("silver/posts")
    accounts = world_api.table("silver/accounts").select(
        "platform", "account_id", "agency", "handle"
    )
    expected = posts.join(accounts, on=["platform", "account_id"], how="left").sort(
        ["created_at", "platform", "post_id"], descending=True
    )
    size = -(-posts.height // 3)  # three pages
    assert size < 500
    _same(list(api.iter_posts(page_size=size)), expected)
    first = api.posts(limit=size)
    assert first.meta.count == size and first.meta.next_cursor is not None

    cdc = expected.filter(
        (pl.col("agency") == "CDC") & (pl.col("created_at").dt.date() >= dt.date(2026, 11, 7))
    )
    assert cdc.height > 3
    size = -(-cdc.height // 3)
    _same(list(api.iter_posts(agency=["CDC"], since=dt.date(2026, 11, 7), page_size=size)), cdc)


def test_problems_raise_api_problem_with_their_fields(world_api: Any, api: Client) -> None:
    with pytest.raises(ApiProblem) as caught:
        api.posts(limit=501)
    problem = caught.value
    assert (problem.status, problem.kind, problem.instance) == (
        422,
        "invalid-parameter",
        "/v1/posts",
    )
    assert problem.errors and problem.errors[0]["parameter"] == "limit"

    with pytest.raises(ApiProblem) as caught:
        api.account("bluesky", "no-such-account")
    assert (caught.value.status, caught.value.kind) == (404, "not-found")

    with Client(world_api.url, world_api.cdc) as cdc:
        assert {a.agency for a in cdc.accounts().data} == {"CDC"}
        with pytest.raises(ApiProblem) as caught:
            cdc.posts(agency="FDA")
        assert (caught.value.status, caught.value.kind) == (403, "forbidden")

    with Client(world_api.url) as anonymous:
        assert anonymous.health().data.status == "ok"
        with pytest.raises(ApiProblem) as caught:
            anonymous.runs()
        assert (caught.value.status, caught.value.kind) == (401, "unauthorized")
