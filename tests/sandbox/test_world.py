"""The simulated world on its own: determinism, text facets, counters, clock and id formats."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from hhs_platform.sandbox import DEFAULT_EPOCH, SimClock, World, round_3_significant
from hhs_platform.sandbox.formats import iso_duration, page_token, parse_page_token
from hhs_platform.sandbox.model import Post
from hhs_platform.sandbox.world import SUPPORTED_PLATFORMS


@pytest.fixture(scope="module")
def world(registry: pl.DataFrame) -> World:
    return World(registry, seed=7)


def test_full_world_has_every_sandbox_account(registry: pl.DataFrame) -> None:
    w = World(registry, seed=11)
    expected = registry.filter(pl.col("platform").is_in(SUPPORTED_PLATFORMS))
    assert len(w.accounts) == expected.height
    assert {(a.platform, a.registry_handle) for a in w.accounts} == set(
        expected.select("platform", "handle").iter_rows()
    )


def test_same_seed_same_truth_and_different_seed_differs(
    world: World, registry: pl.DataFrame
) -> None:
    again = World(registry, seed=7)
    for name in ("accounts", "posts"):
        assert_frame_equal(world.truth()[name], again.truth()[name])
    other = World(registry, seed=8).truth()
    assert not other["posts"].equals(world.truth()["posts"])
    assert set(other["accounts"]["account_id"]) != set(world.truth()["accounts"]["account_id"])


def test_row_order_does_not_matter_and_other_platforms_are_ignored(
    small_rows: list[dict[str, Any]],
) -> None:
    rows = [*small_rows, {"platform": "myspace", "handle": "cdc", "agency": "CDC"}]
    a = World(rows, seed=3).truth()
    b = World(list(reversed(rows)), seed=3).truth()
    assert_frame_equal(a["posts"], b["posts"])
    assert set(a["accounts"]["platform"]) == {"bluesky", "youtube", "x"}


def test_identifiers_have_the_platform_formats(world: World) -> None:
    for a in world.platform_accounts("bluesky"):
        assert re.fullmatch(r"did:plc:[a-z2-7]{24}", a.account_id)
    for a in world.platform_accounts("youtube"):
        assert re.fullmatch(r"UC[A-Za-z0-9_-]{22}", a.account_id)
        if a.registry_handle.startswith("UC"):
            assert a.account_id == a.registry_handle
    for p in world.posts.values():
        if p.platform == "bluesky":
            assert re.fullmatch(
                r"at://did:plc:[a-z2-7]{24}/app\.bsky\.feed\.post/[2-7a-z]{13}", p.post_id
            )
            assert p.cid.startswith("bafyrei") and len(p.cid) == 59
        elif p.platform == "youtube":
            assert re.fullmatch(r"[A-Za-z0-9_-]{11}", p.post_id)
        elif p.platform in ("x", "mastodon", "truthsocial"):
            assert re.fullmatch(r"[1-9][0-9]{17,18}", p.post_id)  # snowflakes
        # the other platforms' id formats are checked by their own sandbox tests
    for a in world.platform_accounts("x"):
        assert a.account_id.isdigit()
    for r in world.reposts.values():
        owner = world.account_by_id(r.account_id)
        if owner.platform == "bluesky":
            assert r.uri.startswith(f"at://{r.account_id}/app.bsky.feed.repost/")
        elif owner.platform in ("x", "mastodon", "truthsocial"):
            assert r.uri.isdigit() and r.uri not in world.posts


def test_post_mix_and_references_point_back_in_time(world: World) -> None:
    types = world.truth()["posts"].filter(platform="bluesky")["post_type"].value_counts()
    share = {t: n / types["count"].sum() for t, n in types.iter_rows()}
    assert 0.6 < share["original"] < 0.8
    assert 0.05 < share["reply"] < 0.15 and 0.04 < share["quote"] < 0.12
    assert 0.07 < share["repost"] < 0.17
    for p in world.posts.values():
        for ref in (p.reply_parent, p.reply_root, p.quote_of):
            if ref:
                assert world.posts[ref].ts <= p.ts
    for r in world.reposts.values():
        subject = world.posts[r.subject]
        assert subject.ts <= r.ts and subject.account_id != r.account_id


def test_facets_carry_correct_utf8_byte_offsets(world: World) -> None:
    kinds = set()
    multibyte = 0
    for p in world.posts.values():
        if p.platform != "bluesky":
            continue
        raw = p.text.encode()
        multibyte += len(raw) != len(p.text)
        for f in p.facets:
            kinds.add(f.kind)
            shown = raw[f.byte_start : f.byte_end].decode()
            if f.kind == "tag":
                assert shown == "#" + f.value
            elif f.kind == "mention":
                handle = world.account("bluesky", f.value).handle  # type: ignore[union-attr]
                assert shown == "@" + handle
            else:
                assert f.value.startswith("https://")
                assert f.value.split("://")[1].startswith(shown.removesuffix("..."))
        if p.platform == "bluesky":
            assert len(p.text) <= 300
    assert kinds == {"tag", "mention", "link"}
    assert multibyte > 50  # emoji and typographic quotes exercise the byte offsets


def test_counters_are_monotone_and_constant_within_a_tick(world: World) -> None:
    posts: list[Post] = list(world.posts.values())[::40]
    times = [DEFAULT_EPOCH + timedelta(hours=h) for h in range(-24 * 70, 24 * 40, 7)]
    for p in posts:
        for metric in ("likes", "reposts", "replies", "quotes", "views"):
            values = [world.counter(p, metric, t) for t in times]
            assert values == sorted(values)
        tick = datetime.fromtimestamp(world.tick(DEFAULT_EPOCH), UTC)
        assert world.counter(p, "likes", tick) == world.counter(
            p, "likes", tick + timedelta(seconds=world.tick_seconds - 1)
        )
    for a in world.accounts:
        assert all(world.followers(a, t) >= 0 for t in times[::10])
        counts = [world.posts_count(a, t) for t in times]
        assert counts == sorted(counts)


def test_future_posts_appear_as_time_moves(world: World) -> None:
    now = world.truth(DEFAULT_EPOCH)["posts"]
    later = world.truth(DEFAULT_EPOCH + timedelta(days=3))["posts"]
    assert later.height > now.height
    assert now["created_at"].max() <= DEFAULT_EPOCH
    assert set(now["post_id"]) < set(later["post_id"])


def test_truth_has_the_agreed_schema(world: World) -> None:
    truth = world.truth()
    assert truth["accounts"].schema == pl.Schema(
        {"platform": pl.Utf8, "account_id": pl.Utf8, "handle": pl.Utf8, "followers": pl.Int64,
         "following": pl.Int64, "posts_count": pl.Int64}
    )  # fmt: skip
    assert truth["posts"].schema == pl.Schema(
        {"platform": pl.Utf8, "post_id": pl.Utf8, "account_id": pl.Utf8,
         "created_at": pl.Datetime("us", "UTC"), "post_type": pl.Utf8, "likes": pl.Int64,
         "reposts": pl.Int64, "replies": pl.Int64, "quotes": pl.Int64, "views": pl.Int64}
    )  # fmt: skip
    posts = truth["posts"]
    reposts = posts.filter(post_type="repost")
    assert (
        reposts.select("likes", "reposts", "replies", "quotes", "views").null_count().row(0)
        == (reposts.height,) * 5
    )
    yt = posts.filter(platform="youtube")
    assert yt["reposts"].null_count() == yt.height and yt["views"].null_count() == 0
    bs = posts.filter(platform="bluesky", post_type="original")
    assert bs["views"].null_count() == bs.height and bs["likes"].null_count() == 0
    accounts = truth["accounts"]
    bs_acc = accounts.filter(platform="bluesky")
    own = posts.filter(platform="bluesky").filter(pl.col("post_type") != "repost")
    counts = dict(own.group_by("account_id").len().iter_rows())
    assert {r["account_id"]: r["posts_count"] for r in bs_acc.iter_rows(named=True)} == counts
    yt_acc = accounts.filter(platform="youtube")
    assert yt_acc["following"].null_count() == yt_acc.height


def test_round_3_significant() -> None:
    assert [round_3_significant(n) for n in (0, 999, 1000, 1999, 1927873, 10_749_999)] == [
        0, 999, 1000, 1990, 1920000, 10_700_000,
    ]  # fmt: skip


def test_sim_clock_frozen_and_running() -> None:
    c = SimClock()
    assert c.now() == DEFAULT_EPOCH == c.epoch
    c.advance(timedelta(hours=2))
    assert c.now() == DEFAULT_EPOCH + timedelta(hours=2)
    c.set(datetime(2027, 1, 1, tzinfo=UTC))
    assert c.now().year == 2027 and c.epoch == DEFAULT_EPOCH
    with pytest.raises(ValueError, match="aware"):
        c.set(datetime(2027, 1, 1))
    r = SimClock.running()
    first = r.now()
    time.sleep(0.01)
    assert r.now() > first and r.epoch.hour == 0
    assert abs((r.now() - datetime.now(UTC)).total_seconds()) < 1


def test_youtube_formats() -> None:
    assert page_token(10) == "CAoQAA" and page_token(10, backwards=True) == "CAoQAQ"
    assert parse_page_token(page_token(300)) == (300, False)
    assert [iso_duration(s) for s in (201, 3600, 45, 3725)] == [
        "PT3M21S",
        "PT1H",
        "PT45S",
        "PT1H2M5S",
    ]


def test_posts_per_day_scales_volume(small_rows: list[dict[str, Any]]) -> None:
    base = World(small_rows, seed=3).truth()["posts"].height
    busy = World(small_rows, seed=3, posts_per_day=4.0).truth()["posts"].height
    assert 3 * base < busy < 5 * base


def test_worlds_built_on_different_days_agree_on_common_days() -> None:
    """A day's posts do not depend on the window, so demo runs on consecutive days line up."""
    from datetime import UTC, datetime, timedelta

    import polars as pl

    from hhs_platform.registry import load_registry
    from hhs_platform.sandbox import SimClock, World

    registry = load_registry(platforms=["bluesky", "youtube"]).head(12)
    day = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
    a = World(registry, seed=7, clock=SimClock(day, frozen=True))
    b = World(registry, seed=7, clock=SimClock(day + timedelta(days=1), frozen=True))
    lo, hi = day - timedelta(days=40), day  # well inside both windows
    cols = ["platform", "post_id", "account_id", "created_at"]

    def window(w: World) -> pl.DataFrame:
        t = w.truth(at=day)["posts"].filter(pl.col("created_at").is_between(lo, hi))
        return t.filter(pl.col("post_type") == "original").select(cols).sort(cols)

    assert window(a).height > 100
    assert window(a).equals(window(b))
    fa = a.truth(at=day)["accounts"].sort("account_id")
    fb = b.truth(at=day)["accounts"].sort("account_id")
    assert fa["followers"].equals(fb["followers"])


def test_platforms_option_and_settings(small_rows: list[dict[str, Any]]) -> None:
    from hhs_platform.sandbox import SandboxConfig
    from hhs_platform.sandbox.platforms import PLATFORMS

    only = World(small_rows, seed=3, platforms=["bluesky"]).truth()
    assert set(only["accounts"]["platform"]) == {"bluesky"}
    with pytest.raises(ValueError, match="no platform"):
        World(small_rows, platforms=["myspace"])
    assert set(PLATFORMS) == {
        "bluesky", "youtube", "x", "mastodon", "truthsocial",
        "facebook", "instagram", "reddit", "flickr", "threads", "linkedin",
    }  # fmt: skip
    config = SandboxConfig(bluesky_rate_limit=10, youtube_api_keys=["k"])
    assert config.bluesky_rate_limit == 10 and config.youtube_api_keys == frozenset({"k"})
    assert config.x_rate_limits["users_tweets"] == 1500 and config.mastodon_rate_limit == 300
    with pytest.raises(TypeError, match="bluesky_rate_limit"):
        SandboxConfig(bluesky_rate_limt=10)
