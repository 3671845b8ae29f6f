"""A simulated world with planted spikes, drops and gaps, collected day by day through the real
pipeline (sockets → bronze → silver → gold): gold/anomalies finds every planted event, on its
day, and the incremental builds equal a full rebuild."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from hhs_platform.analytics import build_anomalies, build_forecasts, changed_since
from hhs_platform.lake import Lake
from hhs_platform.sandbox import SandboxThread, World
from hhs_platform.sandbox.history import collect_day
from hhs_platform.sandbox.world import Planted
from hhs_platform.settings import Settings
from hhs_platform.transforms.gold import build_gold

HHS = "U.S. Department of Health and Human Services"
CDC = "Centers for Disease Control and Prevention"
REGISTRY = pl.DataFrame(
    [
        {
            "agency": agency,
            "agency_name": name,
            "parent_agency": parent,
            "platform": platform,
            "handle": handle,
            "platform_id": None,
            "url": f"https://example.org/{platform}/{handle}",
            "tier": 1,
            "verified": False,
            "source": "test",
        }
        for agency, name, parent, platform, handle in [
            ("HHS", HHS, None, "bluesky", "hhs.gov"),
            ("CDC", CDC, "HHS", "bluesky", "cdc.gov"),
            ("HHS", HHS, None, "mastodon", "hhs"),
            ("CDC", CDC, "HHS", "mastodon", "cdc"),
        ]
    ],
    schema_overrides={"parent_agency": pl.Utf8, "platform_id": pl.Utf8},
)
DAYS = 13  # daily collections from the world's epoch (1 November)
PLANTED = [
    # in the history the first collection reads
    Planted("engagement_spike", "bluesky", "cdc.gov", date(2026, 10, 12), 100),
    Planted("engagement_collapse", "mastodon", "hhs", date(2026, 10, 9), 0.01),
    Planted("posting_gap", "bluesky", "hhs.gov", date(2026, 10, 14), 8),
    # while it is collected day by day
    Planted("follower_drop", "mastodon", "cdc", date(2026, 11, 12), 0.05),
    Planted("follower_jump", "bluesky", "hhs.gov", date(2026, 11, 13), 0.04),
]
#: mastodon:hhs is not collected on these days (the collector skipped it).
OUTAGE = {date(2026, 11, 6), date(2026, 11, 7)}


def test_planted_events_are_found_on_their_day(tmp_path: Path) -> None:
    world = World(
        REGISTRY, seed=5, platforms=("bluesky", "mastodon"), planted=PLANTED, history_days=60
    )
    for plant in PLANTED[:2]:  # the planted days have posts to spike or collapse
        acc = next(a for a in world.accounts if a.registry_handle == plant.handle)
        assert any(p.created_at.date() == plant.day for p in acc.posts), plant
    epoch = world.now()
    lake, scratch = Lake(str(tmp_path / "lake")), Lake(str(tmp_path / "scratch"))
    # Five observations make a baseline (ten by default), so that two weeks of daily collections
    # are enough history for the follower events.
    settings = Settings(_env_file=None, anomaly_min_history=5)  # type: ignore[call-arg]
    before = pl.DataFrame()
    with SandboxThread(accounts=REGISTRY, world=world) as sb:
        for n in range(DAYS):
            at = epoch + timedelta(days=n, hours=12)
            world.clock.set(at)
            registry = REGISTRY
            if at.date() in OUTAGE:
                registry = REGISTRY.filter(
                    ~((pl.col("platform") == "mastodon") & (pl.col("handle") == "hhs"))
                )
            recent = None if n == 0 else at - timedelta(days=3)  # daily runs read recent pages
            assert not collect_day(sb, scratch, lake, registry, at, f"run-{n:02d}", recent)
            build_gold(lake)
            after = lake.read("gold/daily_account_metrics")
            # from the first changed day, or the run's (a skipped fetch changes no figure)
            changed = None if before.is_empty() else changed_since(before, after)
            since = None if before.is_empty() else min(changed or at.date(), at.date())
            build_anomalies(lake, since, settings=settings, now=at)
            before = after
    events = lake.read("gold/anomalies")
    accounts = lake.read("silver/accounts").select("platform", "account_id", "handle")
    found = events.join(accounts, on=["platform", "account_id"], suffix="_now")
    with pl.Config(fmt_str_lengths=120, tbl_rows=50):
        print(found.select("kind", "date", "days", "score", "confidence", "sentence"))
    expected = {(p.kind, p.platform, p.handle, p.day) for p in PLANTED}
    expected.add(("collection_gap", "mastodon", "hhs", min(OUTAGE)))
    got = {
        (r["kind"], r["platform"], r["handle_now"], r["date"]) for r in found.iter_rows(named=True)
    }
    assert expected <= got, expected - got
    assert len(got - expected) <= 2, got - expected  # hardly anything else in a quiet world

    gap = found.filter(kind="posting_gap").row(0, named=True)
    assert (gap["days"], gap["end_date"]) == (8, date(2026, 10, 21))
    outage = found.filter(kind="collection_gap").row(0, named=True)
    assert outage["days"] == 2
    assert (
        outage["sentence"]
        == "HHS on Mastodon was not collected for 2 days from 6 November (not fetched)"
    )
    drop = found.filter(kind="follower_drop").row(0, named=True)
    assert -5.0 <= drop["change_pct"] <= -4.7  # 5% off, less the day's usual growth
    assert drop["sentence"].startswith("CDC followers on Mastodon fell 4.9% on 12 November, ")

    # each day's incremental build equals a full rebuild of the same lake
    full = Lake(str(tmp_path / "full"))
    shutil.copytree(lake.uri, full.uri)
    build_anomalies(full, settings=settings)
    assert full.read("gold/anomalies").equals(events)

    # forecasts from the same lake: every account and both metrics, with a back-test
    build_forecasts(lake, settings=settings)
    forecasts = lake.read("gold/forecasts")
    assert forecasts.filter(level="account").select("entity", "metric").unique().height == 8
    assert lake.read("gold/forecast_backtest").height > 0


def test_planting_keeps_the_world_consistent() -> None:
    plain = World(REGISTRY, seed=5, platforms=("bluesky", "mastodon"), history_days=60)
    world = World(
        REGISTRY, seed=5, platforms=("bluesky", "mastodon"), planted=PLANTED, history_days=60
    )
    spike, collapse, gap, drop, _ = PLANTED
    # the gap: no post or repost of the account on its days; nothing points at a removed post
    hhs = next(a for a in world.accounts if a.registry_handle == gap.handle)
    days = {gap.day + timedelta(days=i) for i in range(int(gap.size))}
    assert not [e for e in hhs.feed if e.created_at.date() in days]
    assert len(plain.posts) > len(world.posts)
    for post in world.posts.values():
        for ref in (post.reply_parent, post.reply_root, post.quote_of):
            assert ref is None or ref in world.posts
    assert all(r.subject in world.posts for r in world.reposts.values())
    # the spike and the collapse scale the day's posts only
    for plant in (spike, collapse):
        for post in next(a for a in world.accounts if a.registry_handle == plant.handle).posts:
            before = plain.posts[post.post_id].finals["likes"]
            factor = plant.size if post.created_at.date() == plant.day else 1
            assert post.finals["likes"] == int(before * factor)
    # the drop: 5% fewer followers from its day on, as served
    acc = next(a for a in world.accounts if a.registry_handle == drop.handle)
    ref = next(a for a in plain.accounts if a.registry_handle == drop.handle)
    at = datetime(2026, 11, 12, 12, tzinfo=UTC)
    assert world.followers(acc, at) == int(plain.followers(ref, at) * 0.95)
    assert world.followers(acc, at - timedelta(days=1)) == plain.followers(
        ref, at - timedelta(days=1)
    )
