"""`hhs registry check` against the simulated platforms over real sockets: ids, renames, misses."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from aiohttp import web

from hhs_platform.collect import collect_batch, plan_batches
from hhs_platform.connectors.base import AccountRef
from hhs_platform.lake import Lake
from hhs_platform.lake.silver import write_silver
from hhs_platform.registry import load_registry, write_registry
from hhs_platform.registry.check import (
    apply_check,
    can_resolve,
    check_registry,
    is_rename,
    resolve_accounts,
)
from hhs_platform.sandbox import SandboxThread
from hhs_platform.settings import Settings
from hhs_platform.transforms.normalize import SilverBatch, parse_bronze

KEY = "check-test-key-8d1e"
HEADER = "agency,agency_name,parent_agency,platform,handle,platform_id,previous_handles,url,tier,verified,source\n"


def _settings(sb: SandboxThread, lake: str = "./lake") -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        lake_uri=lake,
        bluesky_api_base=sb.url("bluesky"),
        youtube_api_base=sb.url("youtube"),
        youtube_api_key=KEY,
        http_max_retries=0,
    )


@pytest.fixture(scope="module")
def shipped_sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(accounts=load_registry(), seed=5, history_days=2, future_days=1) as sb:
        yield sb


def test_check_learns_ids_and_reports_a_missing_handle(shipped_sandbox: SandboxThread) -> None:
    # the platforms the sandbox serves, plus one no connector resolves (never the real internet)
    shipped = load_registry(platforms=["bluesky", "youtube", "pinterest"])
    ghost = (
        shipped.filter(platform="bluesky")
        .head(1)
        .with_columns(
            handle=pl.lit("retired-agency.bsky.social"),
            url=pl.lit("https://bsky.app/profile/retired-agency.bsky.social"),
        )
    )
    registry = pl.concat([shipped, ghost])
    result = check_registry(registry, _settings(shipped_sandbox))
    frame = result.frame
    assert frame.height == registry.height
    row = frame.filter(handle="retired-agency.bsky.social").row(0, named=True)
    assert row["change"] == "not_found" and row["status"] == "not_found"

    bsky = frame.filter(platform="bluesky", change="id_learned")
    assert bsky.height == 15
    assert all(i.startswith("did:plc:") for i in bsky["account_id"].to_list())
    truth = shipped_sandbox.world.truth()["accounts"].filter(platform="bluesky")
    assert set(bsky["account_id"].to_list()) == set(truth["account_id"].to_list())
    assert bsky["display_name"].null_count() == 0

    yt = frame.filter(platform="youtube")
    # channel ids already in the registry stay put; legacy user names learn their channel id
    assert set(yt["change"].to_list()) == {"unchanged", "id_learned"}
    assert yt.filter(change="unchanged")["account_id"].to_list() == (
        yt.filter(change="unchanged")["platform_id"].to_list()
    )
    legacy = yt.filter(handle="USGOVHHS").row(0, named=True)
    assert legacy["change"] == "id_learned" and legacy["account_id"].startswith("UC")

    assert not can_resolve("pinterest")
    assert set(frame.filter(platform="pinterest")["change"].to_list()) == {"unsupported"}
    report = result.report()
    assert (
        "not_found 1" in report and "| not_found | bluesky | retired-agency.bsky.social" in report
    )


def test_a_missing_api_key_is_an_error_not_a_crash(shipped_sandbox: SandboxThread) -> None:
    settings = _settings(shipped_sandbox).model_copy(update={"youtube_api_key": None})
    result = check_registry(load_registry(platforms=["youtube"]).head(2), settings)
    assert result.frame["change"].to_list() == ["error", "error"]
    assert "HHS_YOUTUBE_API_KEY" in result.frame["detail"][0]


async def _resolve_against(app: web.Application, refs: list[AccountRef]) -> list:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, bluesky_api_base=f"http://127.0.0.1:{port}", http_max_retries=0
        )
        return await resolve_accounts(refs, settings)
    finally:
        await runner.cleanup()


def test_bluesky_takedown_is_suspended_and_verification_is_read() -> None:
    async def profile(request: web.Request) -> web.Response:
        actor = request.query["actor"]
        if actor == "taken-down.bsky.social":
            body = {"error": "AccountTakedown", "message": "Account has been suspended"}
            return web.json_response(body, status=400)
        if actor == "nobody.bsky.social":
            return web.json_response(
                {"error": "InvalidRequest", "message": "Profile not found"}, status=400
            )
        return web.json_response(
            {
                "did": "did:plc:abc",
                "handle": "hhs.gov",
                "displayName": "HHS",
                "verification": {"verifications": [], "verifiedStatus": "valid"},
            }
        )

    app = web.Application()
    app.router.add_get("/xrpc/app.bsky.actor.getProfile", profile)
    refs = [
        AccountRef("bluesky", "taken-down.bsky.social"),
        AccountRef("bluesky", "nobody.bsky.social"),
        AccountRef("bluesky", "hhs.gov"),
        AccountRef("myspace", "tom"),
    ]
    out = asyncio.run(_resolve_against(app, refs))
    assert [r.status for r in out] == ["suspended", "not_found", "active", "unsupported"]
    assert out[2].verified is True and out[2].account_id == "did:plc:abc"


def test_is_rename_ignores_case_at_signs_and_youtube_legacy_names() -> None:
    assert not is_rename("bluesky", "HHS.gov", "hhs.gov")
    assert is_rename("bluesky", "old.bsky.social", "new.gov")
    assert not is_rename("youtube", "USGOVHHS", "@somethingelse")
    assert not is_rename("youtube", "UC1ZRVOl5MFHIXU4zZr-Oglg", "@hhs")
    assert is_rename("youtube", "@oldname", "@newname")


def test_rename_keeps_one_account_and_its_history(tmp_path: Path) -> None:
    path = tmp_path / "accounts.csv"
    path.write_text(
        HEADER + "NIH,National Institutes of Health,HHS,bluesky,nih-old.bsky.social,,,"
        "https://bsky.app/profile/nih-old.bsky.social,1,false,test\n"
        "CDC,Centers for Disease Control and Prevention,HHS,bluesky,cdc.gov,,,"
        "https://bsky.app/profile/cdc.gov,1,false,test\n"
    )
    lake = Lake(str(tmp_path / "lake"))

    def collect(sb: SandboxThread, run_id: str) -> None:
        registry = load_registry(path)
        settings = _settings(sb, lake.uri)
        outcomes = [
            collect_batch(
                b, run_id=run_id, batch_id="0", lake=lake, settings=settings, registry=registry
            )
            for b in plan_batches(registry, batch_size=10)
        ]
        assert all(not o.errors for o in outcomes)
        write_silver(lake, SilverBatch.concat([o.silver for o in outcomes]))

    # 1. before the rename: the check learns the ids, a collection fills silver
    with SandboxThread(accounts=load_registry(path), seed=9, history_days=3, future_days=1) as sb1:
        first = check_registry(load_registry(path), _settings(sb1))
        assert first.counts()["id_learned"] == 2
        updated, notes = apply_check(load_registry(path), first)
        assert not notes
        write_registry(updated, path)
        collect(sb1, "run-1")
    learned = load_registry(path)
    did = learned.filter(agency="NIH")["platform_id"][0]
    assert did.startswith("did:plc:")

    # 2. the platform renames the account: same DID, new handle
    renamed_world = learned.with_columns(
        handle=pl.when(pl.col("agency") == "NIH").then(pl.lit("nih.gov")).otherwise("handle")
    )
    with SandboxThread(accounts=renamed_world, seed=9, history_days=3, future_days=1) as sb2:
        second = check_registry(learned, _settings(sb2))
        row = second.frame.filter(agency="NIH").row(0, named=True)
        assert (row["change"], row["account_id"], row["current_handle"]) == (
            "renamed",
            did,
            "nih.gov",
        )
        assert second.frame.filter(agency="CDC")["change"].to_list() == ["unchanged"]
        updated, notes = apply_check(learned, second)
        write_registry(updated, path)
        after = load_registry(path).filter(agency="NIH").row(0, named=True)
        assert after["handle"] == "nih.gov" and after["previous_handles"] == "nih-old.bsky.social"
        assert after["url"] == "https://bsky.app/profile/nih.gov" and after["platform_id"] == did
        collect(sb2, "run-2")

    accounts = lake.read("silver/accounts").filter(pl.col("account_id") == did)
    assert accounts.height == 1
    assert accounts.row(0, named=True)["handle"] == "nih.gov"
    assert accounts.row(0, named=True)["agency"] == "NIH"
    snapshots = lake.read("silver/account_snapshots")
    assert set(snapshots["account_id"].to_list()) == set(learned["platform_id"].to_list())
    assert snapshots.filter(pl.col("account_id") == did)["run_id"].n_unique() == 2

    # replaying the old run's bronze with today's registry still finds the agency by id
    bronze = lake.read("bronze/raw_responses").filter(run_id="run-1")
    replayed = parse_bronze(bronze, load_registry(path)).tables["silver/accounts"]
    old = replayed.filter(pl.col("account_id") == did).row(0, named=True)
    assert old["account_key"] == "bluesky:nih-old.bsky.social" and old["agency"] == "NIH"
