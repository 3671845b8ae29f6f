"""Chaos: every simulated platform fails a fifth of its requests in every way at once, and the
pipeline still lands exactly what was served, once, with every broken payload quarantined.

The collection is real (sandbox over sockets, HTTP client and its retries, connectors, bronze,
silver, quarantine); the client runs with a timeout below the time the sandbox holds a
"timeout" request, so timeouts really happen (``chaos_run.CLIENT_TIMEOUT_S``).
"""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import chaos_run
import polars as pl
import pytest

from hhs_platform.lake import Lake
from hhs_platform.quality.accuracy import compare_with_truth, inexact, is_exact
from hhs_platform.quality.audit import reason_class
from hhs_platform.sandbox import FaultProfile
from hhs_platform.sandbox.faults import FAILURE_KINDS, MALFORMED
from hhs_platform.sandbox.malformed import (
    BAD_COUNT,
    BAD_TIMESTAMP,
    ITEM_SPECS,
    broken_copies,
    malform,
)

#: How each way of breaking an item shows in its quarantine reason.
BROKEN_CLASSES = {"null_id", "bad_timestamp", "wrong_type"}


def test_the_chaos_preset_fails_a_fifth_of_the_requests_in_every_way() -> None:
    profile = FaultProfile.chaos(3)
    assert profile.failure_rate() == pytest.approx(0.20)
    assert FaultProfile.named("chaos", 3) == profile
    kinds = Counter(profile.decide("x", n).kind for n in range(20_000))
    failed = sum(kinds[k] for k in FAILURE_KINDS)
    assert 0.19 < failed / 20_000 < 0.21, kinds
    assert all(kinds[k] > 300 for k in FAILURE_KINDS), kinds
    assert kinds["duplicate_page"] > 200  # repeats come on top
    with pytest.raises(ValueError, match="presets are \\['chaos'\\]"):
        FaultProfile.named("mayhem")
    # Kinds added later draw from what the older ones leave: old profiles decide as before.
    old = FaultProfile(rate_limit=0.1, server_error=0.1, truncated=0.15, seed=5)
    widened = FaultProfile(rate_limit=0.1, server_error=0.1, truncated=0.15, seed=5, timeout=0.1)
    same = [old.decide("bluesky", n).kind == widened.decide("bluesky", n).kind for n in range(500)]
    assert sum(same) > 400 and all(
        widened.decide("bluesky", n).kind in (old.decide("bluesky", n).kind, "timeout")
        for n in range(500)
    )


def test_a_malformed_page_keeps_every_item_and_adds_one_broken_copy_per_way() -> None:
    spec = ITEM_SPECS["bluesky"]
    feed = [
        {"post": {"uri": f"at://did:plc:a/app.bsky.feed.post/{i}", "likeCount": i,
                  "record": {"createdAt": f"2026-10-0{i + 1}T00:00:00Z"}}}
        for i in range(5)
    ]  # fmt: skip
    feed[1]["reason"] = {"$type": "app.bsky.feed.defs#reasonRepost"}  # never copied
    body = json.dumps({"feed": feed, "cursor": "c1"}).encode()
    out, breaks = malform(body, spec, seed=1, n=7)
    page = json.loads(out)
    assert sorted(breaks) == ["count", "id", "timestamp"]
    assert page["cursor"] == "c1"
    real = [i for i in page["feed"] if i in feed]
    assert real == feed  # every real item, in order
    copies = [i for i in page["feed"] if i not in feed]
    assert len(copies) == 3
    assert page["feed"][-1] == feed[-1]  # the last item stays last (some clients page from it)
    assert {c["post"]["uri"] for c in copies} >= {None}
    assert BAD_TIMESTAMP in {c["post"]["record"]["createdAt"] for c in copies}
    assert BAD_COUNT in {c["post"]["likeCount"] for c in copies}
    assert all("reason" not in c for c in copies)
    for i, item in enumerate(page["feed"]):  # each copy right after its original
        if item in copies:
            before = page["feed"][i - 1]["post"]
            assert (
                before["uri"] == item["post"]["uri"] or before["record"] == item["post"]["record"]
            )
    # the same request number breaks the same items; a page too short is left alone
    assert malform(body, spec, seed=1, n=7) == (out, breaks)
    short = json.dumps({"feed": feed[:1]}).encode()
    assert malform(short, spec, seed=1, n=7) == (short, [])


def test_the_faults_endpoint_takes_a_named_profile(tmp_path) -> None:
    accounts = chaos_run.registry(1).filter(platform="bluesky")
    with chaos_run.sandbox(accounts, None) as sb:
        request = urllib.request.Request(
            sb.base_url + "/_sandbox/faults",
            data=json.dumps({"profile": "chaos", "seed": 4}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            shown = json.loads(resp.read())["faults"]
        assert sb.context.faults == FaultProfile.chaos(4)
    assert shown["rate_limit"] == 0.04 and shown["timeout_s"] == 3.0 and shown["seed"] == 4


def test_every_platform_quarantines_each_broken_item_and_lands_the_rest(tmp_path) -> None:
    # Every listing page broken (other requests are not listings: unchanged).
    run = chaos_run.run_once(tmp_path, FaultProfile(malformed=1.0, seed=2), per_platform=1)
    report = compare_with_truth(run.lake, run.truth)
    assert is_exact(report), inexact(report)
    broken = {p: n for (p, kind), n in run.faults.items() if kind == MALFORMED}
    assert set(broken) == set(ITEM_SPECS), broken  # every platform but LinkedIn's offset pages
    quarantined = run.lake.read("quarantine/rows")
    classes = Counter(
        (p, reason_class(rules[0])) for p, rules in quarantined.select("platform", "rules").rows()
    )
    for platform, spec in ITEM_SPECS.items():
        assert sum(n for (p, _), n in classes.items() if p == platform) == broken[platform]
        assert classes[(platform, "null_id")] > 0 and classes[(platform, "bad_timestamp")] > 0
        assert (classes[(platform, "wrong_type")] > 0) == (spec.count is not None), platform
    # each reason names the item it skipped and why
    assert all("skipped:" in rules[0] for rules in quarantined["rules"])


def test_repeated_pages_on_graph_reddit_and_flickr_listings_are_asked_for_again(tmp_path) -> None:
    # A stale cache answering a later page with the one before (cursor included): Threads,
    # Facebook and Reddit used to take the repeated cursor for the end of the listing, and
    # Flickr to skip the page it never got. (Bluesky, X, YouTube and Mastodon: test_world_changes.)
    # Faults are drawn per request number, and the order requests arrive in varies with the
    # machine's load (a timed-out request is asked for again): the next seed, until one run
    # has served a repeated page. Every run must land exactly.
    paged = frozenset({"facebook", "reddit", "threads", "flickr"})
    repeated = 0
    for seed in (3, 5, 7, 9):
        faults = FaultProfile(duplicate_page=0.15, platforms=paged, seed=seed)
        run = chaos_run.run_once(tmp_path / str(seed), faults, per_platform=1, history_days=240)
        report = compare_with_truth(run.lake, run.truth)
        assert is_exact(report), (seed, report)
        repeated += sum(n for (_, kind), n in run.faults.items() if kind == "duplicate_page")
        if repeated:
            break
    assert repeated > 0


def _check_chaos_run(run: chaos_run.Run) -> None:
    """Exact landing, failed attempts in bronze, every broken payload quarantined with a reason."""
    assert all(not o.errors for o in run.outcomes), [e for o in run.outcomes for e in o.errors]
    report = compare_with_truth(run.lake, run.truth)
    assert {r["platform"] for r in report} == set(chaos_run.PLATFORMS)
    assert is_exact(report), inexact(report)
    assert all(r["recall"] == 1.0 and r["duplicate_keys"] == 0 for r in report)
    assert all(r["posts_found"] > 0 for r in report)
    kinds = Counter()
    for (_, kind), n in run.faults.items():
        kinds[kind] += n
    assert all(kinds[k] > 0 for k in FAILURE_KINDS if k != MALFORMED), kinds

    bronze = run.lake.read(
        "bronze/raw_responses", columns=["response_id", "platform", "request_url", "status", "body"]
    )
    # The failed attempts are archived too: injected 5xx, held and cut-off requests as status 0
    # (no complete response). A fault answer that a latency spike delays past the client's
    # timeout reaches the client as a timeout instead, so the counts are bounds.
    assert 0 < bronze.filter(pl.col("status") >= 500).height <= kinds["server_error"]
    lost = kinds["timeout"] + kinds["dropped_connection"]
    assert bronze.filter(pl.col("status") == 0).height >= lost
    truncated = set()
    for rid, *_, body in bronze.filter(pl.col("status") == 200).iter_rows():
        try:
            json.loads(body)
        except ValueError:
            truncated.add(rid)
    assert 0 < len(truncated) <= kinds["truncated"]

    quarantined = run.lake.read("quarantine/rows")
    by_class = Counter(reason_class(rules[0]) for rules in quarantined["rules"])
    # Every truncated body, by its response, with the reason; every broken item, by its index.
    cut = quarantined.filter(pl.col("response_id").is_in(list(truncated)))
    assert cut.height == len(truncated) == by_class["truncated_body"]
    assert all("not valid JSON" in rules[0] for rules in cut["rules"])
    broken = sum(by_class[c] for c in BROKEN_CLASSES)
    # A broken page delayed past the client's timeout never arrives (it is asked for again, and
    # the next answer is whole): the archived pages say how many broken items reached the client.
    archived = _archived_broken_items(bronze)
    assert archived <= kinds[MALFORMED]
    assert broken == archived, (broken, archived, by_class)
    assert quarantined.height == len(truncated) + broken, by_class


def test_chaos_run_lands_exactly_and_quarantines_every_broken_payload(tmp_path) -> None:
    run = chaos_run.run_once(tmp_path, chaos_run.chaos_profile(11), history_days=120)
    _check_chaos_run(run)


@pytest.mark.slow
def test_two_chaos_runs_a_day_apart_keep_the_lake_exact(tmp_path) -> None:
    accounts = chaos_run.registry(2)
    lake = Lake(str(tmp_path / "lake"))
    with chaos_run.sandbox(accounts, chaos_run.chaos_profile(21), history_days=150) as sb:
        first = chaos_run.collect(sb, lake, accounts, "chaos-1")
        _check_chaos_run(first)
        metric_rows = lake.read("silver/post_metrics").height
        sb.clock.advance(timedelta(days=1))
        sb.context.faults = chaos_run.chaos_profile(22)
        second = chaos_run.collect(sb, lake, accounts, "chaos-2")
    report = compare_with_truth(lake, second.truth)
    assert is_exact(report), inexact(report)
    assert all(r["tombstones"] == 0 for r in report), report  # no post wrongly called deleted
    assert lake.read("silver/post_metrics").height > metric_rows  # counters grew, observed
    assert set(lake.read("bronze/raw_responses", columns=["run_id"])["run_id"]) == {
        "chaos-1",
        "chaos-2",
    }


def _archived_broken_items(bronze: pl.DataFrame) -> int:
    """Broken copies in the archived whole listing pages (each one must be quarantined)."""
    n = 0
    for _, platform, url, status, body in bronze.iter_rows():
        spec = ITEM_SPECS.get(platform)
        parts = urlsplit(url)
        if (
            status == 200
            and spec is not None
            and spec.matches(parts.path, dict(parse_qsl(parts.query)))
        ):
            n += broken_copies(body, spec)
    return n
