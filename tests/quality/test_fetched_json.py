"""A fresh batch is parsed from the JSON its fetch decoded (``Connector.keeps_fetched_json``),
not from its archived bodies decoded a second time: the same silver rows and quarantine as
bronze parsed again, on every simulated platform, with and without faults.

Real components: the sandbox over sockets, the HTTP client, the connectors, bronze in a Delta
lake under ``tmp_path``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

import chaos_run
import polars as pl
import pytest

from hhs_platform import jsonio
from hhs_platform.bronze import response_id
from hhs_platform.bronze import to_frame as bronze_frame
from hhs_platform.collect import fetch_accounts, silver_from_bronze
from hhs_platform.connectors import CONNECTORS
from hhs_platform.connectors.base import AccountRef
from hhs_platform.connectors.bluesky import BlueskyConnector
from hhs_platform.transforms.normalize import SILVER_TABLES, SilverBatch, parse_bronze
from schemas import table_spec


def _rows(batch: SilverBatch) -> dict[str, pl.DataFrame]:
    out = {
        name: df.sort(list(table_spec(name).keys)) for name, df in batch.tables.items() if df.height
    }
    out["quarantine/rows"] = (
        batch.quarantine.drop("quarantined_at")
        .with_columns(pl.col("rules").list.join("|"), pl.col("row").struct.json_encode())
        .sort(pl.all())
    )
    return out


@pytest.mark.parametrize("faults", [None, "chaos"])
def test_a_batch_parsed_from_its_fetch_decodes_equals_its_bronze_parsed_again(
    tmp_path, faults: str | None
) -> None:
    profile = chaos_run.chaos_profile(17) if faults else None
    run = chaos_run.run_once(tmp_path, profile)
    registry = chaos_run.registry()  # what run_once collected
    bronze = run.lake.read("bronze/raw_responses")
    log = run.lake.read("bronze/fetch_log")
    platforms = set()
    for outcome in run.outcomes:
        mine = log.filter(pl.col("batch_id") == outcome.batch_id)
        frame = bronze.filter(pl.col("account_key").is_in(mine["account_key"].implode()))
        assert frame.height == outcome.responses
        again = _rows(silver_from_bronze(frame, mine, registry))
        fresh = _rows(outcome.silver)
        assert set(fresh) == set(again), outcome.batch_id
        for name, df in fresh.items():
            assert df.equals(again[name]), (outcome.batch_id, name)
        platforms.update(frame["platform"].unique().to_list())
    assert platforms == set(chaos_run.PLATFORMS)
    posts = sum(o.silver.tables["silver/posts"].height for o in run.outcomes)
    assert posts > 100
    if faults:  # broken payloads were served, parsed from the fetch's decode and quarantined
        assert sum(o.silver.quarantine.height for o in run.outcomes) > 0


def test_the_fetch_hands_over_the_decode_of_every_json_body_it_read(tmp_path) -> None:
    """fetch_accounts keeps, by bronze response id, exactly the 2xx JSON answers of connectors
    that keep what they fetched, each equal to its archived body decoded again."""
    accounts = chaos_run.registry(1).filter(pl.col("platform") != "threads")
    with chaos_run.sandbox(accounts, None) as sb:
        settings = chaos_run.settings(sb, str(tmp_path / "lake"))
        refs = [
            AccountRef(r["platform"], r["handle"], r["platform_id"])
            for r in accounts.iter_rows(named=True)
        ]
        decoded: dict[str, tuple[Any, None]] = {}
        responses, errors, _complete = asyncio.run(fetch_accounts(refs, settings, decoded=decoded))
    assert not errors
    json_answers = {
        response_id(r): r
        for r in responses
        if 200 <= r.status < 300 and "json" in r.headers.get("content-type", "")
    }
    assert set(decoded) == set(json_answers)
    assert {r.platform for r in json_answers.values()} == set(accounts["platform"])
    for rid, (value, problem) in decoded.items():
        assert problem is None
        assert value == json.loads(json_answers[rid].body)


class _Keeps(BlueskyConnector):
    keeps_fetched_json: ClassVar[bool] = True


class _Changes(BlueskyConnector):
    keeps_fetched_json: ClassVar[bool] = False


@pytest.mark.parametrize("connector", [_Keeps, _Changes])
def test_only_a_connector_that_keeps_what_it_fetched_is_parsed_from_the_fetch(
    monkeypatch: pytest.MonkeyPatch, connector: type[BlueskyConnector]
) -> None:
    """A decode handed over with the response is what the parse reads for a connector that
    keeps its pages as they were; for one that does not, the archived body is decoded again."""
    from datetime import UTC, datetime

    from hhs_platform.connectors.base import RawResponse

    def feed(text: str) -> dict[str, Any]:
        return {
            "feed": [
                {
                    "post": {
                        "uri": "at://did:plc:hhs/app.bsky.feed.post/1",
                        "cid": "c1",
                        "author": {"did": "did:plc:hhs", "handle": "hhs.gov"},
                        "record": {"text": text, "createdAt": "2026-11-01T12:00:00Z"},
                        "likeCount": 3,
                        "repostCount": 1,
                        "replyCount": 0,
                        "quoteCount": 0,
                        "indexedAt": "2026-11-01T12:00:01Z",
                    }
                }
            ]
        }

    raw = RawResponse(
        platform="bluesky",
        endpoint="app.bsky.feed.getAuthorFeed",
        account_key="bluesky:hhs.gov",
        request_url="https://public.api.bsky.app/xrpc/app.bsky.feed.getAuthorFeed?actor=hhs.gov",
        status=200,
        headers={"Content-Type": "application/json"},
        body=json.dumps(feed("as archived")).encode(),
        fetched_at=datetime(2026, 11, 2, tzinfo=UTC),
        elapsed_ms=5.0,
        page=1,
    )
    frame = bronze_frame([raw], run_id="r", connector_versions={"bluesky": "bluesky/1"})
    monkeypatch.setitem(CONNECTORS, "bluesky", connector)
    handed = {response_id(raw): (feed("as decoded by the fetch"), None)}
    batch = parse_bronze(frame, None, handed)
    texts = batch.tables["silver/posts"]["text"].to_list()
    assert texts == (
        ["as decoded by the fetch"] if connector.keeps_fetched_json else ["as archived"]
    )
    assert set(batch.tables) == set(SILVER_TABLES)
    assert jsonio.loads(raw.body)["feed"][0]["post"]["record"]["text"] == "as archived"
