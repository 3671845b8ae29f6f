"""Cross-platform campaign linking on a real lake: known groups, negatives, incremental == full."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pytest
from enrich_rows import T0, account, by_post, post, write_accounts, write_posts

from hhs_platform.enrich import link_campaigns
from hhs_platform.enrich.campaigns import normalise_link, normalise_text
from hhs_platform.lake.store import Lake
from schemas import table_spec

if TYPE_CHECKING:
    from distributed import Client

ACCOUNTS = [
    account("x", "cdc-x", "CDC"),
    account("bluesky", "cdc-bsky", "CDC"),
    account("facebook", "cdc-fb", "CDC"),
    account("youtube", "cdc-yt", "CDC"),
    account("x", "fda-x", "FDA"),
    account("facebook", "fda-fb", "FDA"),
    account("x", "someone", None),  # not in the registry
]
FLU = "Flu season is here! Get your flu vaccine today"
MEASLES = "Measles cases are rising in 2026. Two doses of MMR vaccine are about 97% effective."
POSTS = [
    # A: one text on three platforms within 72 h, with different tags, links, case and emoji
    post("a1", f"{FLU} 💉 https://t.co/x1 #FightFlu @CDCgov", account_id="cdc-x"),
    post(
        "a2",
        "Flu season is here. Get your flu vaccine today! www.cdc.gov/flu... #FluSeason",
        platform="bluesky",
        account_id="cdc-bsky",
        hours=2,
        links=["https://www.cdc.gov/flu/index.html"],
    ),
    post(
        "a3",
        "FLU SEASON IS HERE — get your flu vaccine today.",
        platform="facebook",
        account_id="cdc-fb",
        hours=30,
    ),
    # the same text six days later is another campaign
    post("a4", FLU, account_id="cdc-x", hours=150),
    # B: near-duplicates (one word more)
    post("b1", MEASLES, account_id="cdc-x", hours=10),
    post(
        "b2",
        MEASLES.replace("of MMR", "of the MMR"),
        platform="facebook",
        account_id="cdc-fb",
        hours=12,
    ),
    # C: the same link target (tracking and www. aside), texts alike or empty
    post(
        "c1",
        "New guidance for schools this fall",
        account_id="cdc-x",
        hours=20,
        links=["https://www.cdc.gov/schools/guidance?utm_source=x&utm_medium=social"],
    ),
    post(
        "c2",
        "New guidance for schools this week",
        platform="bluesky",
        account_id="cdc-bsky",
        hours=21,
        links=["https://cdc.gov/schools/guidance/"],
    ),
    post(
        "c3",
        None,
        platform="facebook",
        account_id="cdc-fb",
        hours=22,
        links=["http://www.cdc.gov/schools/guidance"],
    ),
    # D: FDA posts CDC's text: FDA's own campaign, never CDC's
    post("d1", FLU, account_id="fda-x", hours=1),
    post("d2", FLU + "!", platform="facebook", account_id="fda-fb", hours=3),
    # E: the same text twice on one platform is not cross-posting
    post("e1", "Wash your hands often.", account_id="cdc-x", hours=40),
    post("e2", "Wash your hands often!", account_id="cdc-x", hours=41),
    # G: unrelated
    post("g1", "Mental health is health.", platform="bluesky", account_id="cdc-bsky"),
    # left out: a repost, and a post of an account without an agency
    post("r1", None, account_id="cdc-x", post_type="repost", hours=5),
    post("u1", FLU, account_id="someone", hours=1),
]
WANT = [
    {"a1", "a2", "a3"},
    {"a4"},
    {"b1", "b2"},
    {"c1", "c2", "c3"},
    {"d1", "d2"},
    {"e1"},
    {"e2"},
    {"g1"},
]


def _groups(items: pl.DataFrame) -> list[set[str]]:
    groups = items.group_by("campaign_id").agg(pl.col("post_id")).get_column("post_id")
    return sorted((set(g) for g in groups.to_list()), key=lambda g: sorted(g))


def _lake(tmp_path: Path) -> Lake:
    lake = Lake(str(tmp_path / "lake"))
    write_accounts(lake, ACCOUNTS)
    write_posts(lake, POSTS)
    return lake


def test_normalisation() -> None:
    assert normalise_text("FLU season — is here!! 💉 #FightFlu @CDCgov https://t.co/x") == (
        "flu season is here"
    )
    assert normalise_text(None) == ""
    assert normalise_link("https://www.cdc.gov/flu/?utm_source=x&b=2&a=1#top") == (
        "cdc.gov/flu?a=1&b=2"
    )


def test_cross_posts_of_one_agency_are_one_campaign(tmp_path: Path) -> None:
    lake = _lake(tmp_path)
    result = link_campaigns(lake)
    items = lake.read("silver/campaign_items")
    table_spec("silver/campaign_items").model.validate(items)
    assert result.inserted == items.height == 14  # every post but the repost and u1
    assert _groups(items) == sorted(WANT, key=lambda g: sorted(g))
    rows = by_post(items)
    a = rows["a2"]
    assert (a["platforms"], a["posts"], a["first_posted_at"], a["agency"]) == (3, 3, T0, "CDC")
    assert rows["a1"]["fingerprint"] == rows["a3"]["fingerprint"] == rows["a4"]["fingerprint"]
    assert rows["b1"]["fingerprint"] != rows["b2"]["fingerprint"]  # linked as near-duplicates
    assert rows["c3"]["fingerprint"] is None and rows["c3"]["platforms"] == 3
    assert (rows["d1"]["agency"], rows["d1"]["platforms"]) == ("FDA", 2)
    assert rows["d1"]["campaign_id"] != rows["a1"]["campaign_id"]  # same text, other agency
    assert rows["e1"]["platforms"] == rows["e2"]["platforms"] == 1
    assert rows["a4"]["first_posted_at"] == T0 + timedelta(hours=150)


def test_a_campaign_never_spans_more_than_the_window(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    write_accounts(lake, ACCOUNTS)
    text = "Check your smoke alarms this weekend"
    write_posts(
        lake,
        [
            post("s1", text, account_id="cdc-x"),
            post("s2", text, platform="facebook", account_id="cdc-fb", hours=60),
            # 50 h after s2 but 110 h after s1: it would stretch the campaign past 72 h
            post("s3", text, platform="bluesky", account_id="cdc-bsky", hours=110),
            post("s4", text, platform="youtube", account_id="cdc-yt", hours=120),
        ],
    )
    link_campaigns(lake)
    assert _groups(lake.read("silver/campaign_items")) == [{"s1", "s2"}, {"s3", "s4"}]


def test_incremental_linking_equals_a_full_relink(tmp_path: Path) -> None:
    lake = _lake(tmp_path)
    link_campaigns(lake)
    before = lake.read("silver/campaign_items")
    nothing = link_campaigns(lake)
    assert (nothing.rows_in, nothing.inserted) == (0, 0)

    # a YouTube video joins campaign A; g1 is edited into B's text; nothing of FDA changes
    write_posts(
        lake,
        [
            post(
                "a5",
                None,
                platform="youtube",
                account_id="cdc-yt",
                hours=40,
                title="Flu season is here — get your flu vaccine today",
            ),
            post("g1", MEASLES, platform="bluesky", account_id="cdc-bsky", hours=0, seen_hours=50),
        ],
    )
    step = link_campaigns(lake)
    assert step.rows_in == 13  # every CDC post relinked, none of FDA
    after = lake.read("silver/campaign_items")
    assert _groups(after) == sorted(
        [{"a1", "a2", "a3", "a5"}, {"a4"}, {"b1", "b2", "g1"}, *WANT[3:7]],
        key=lambda g: sorted(g),
    )
    fda = ["d1", "d2"]
    assert (
        after.filter(pl.col("post_id").is_in(fda))
        .sort("post_id")
        .equals(before.filter(pl.col("post_id").is_in(fda)).sort("post_id"))
    )
    ids = {r["post_id"]: r["campaign_id"] for r in after.iter_rows(named=True)}
    old = {r["post_id"]: r["campaign_id"] for r in before.iter_rows(named=True)}
    assert ids["a5"] == ids["a1"] == old["a1"]  # ids are stable: the first post names them
    # g1 (published first) now heads B, so B is renamed after it
    assert ids["b1"] == ids["g1"] != old["b1"]

    # an account moving to another agency relinks both agencies
    write_accounts(lake, [{**ACCOUNTS[5], "agency": "CDC", "last_seen_at": T0 + timedelta(1)}])
    moved = link_campaigns(lake)
    assert moved.rows_in == 15  # CDC's 13 posts, d2 and FDA's d1
    d2 = by_post(lake.read("silver/campaign_items"))["d2"]
    assert (d2["agency"], d2["campaign_id"]) == ("CDC", ids["a1"])

    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "lake", copy)
    link_campaigns(Lake(str(copy)), full=True)
    incremental = lake.read("silver/campaign_items").drop("linked_at").sort("platform", "post_id")
    full = Lake(str(copy)).read("silver/campaign_items").drop("linked_at")
    assert incremental.equals(full.sort("platform", "post_id"))


def test_a_post_whose_publication_time_moved_is_relinked_once(tmp_path: Path) -> None:
    # The relink replaces rows from each agency's first changed post on (a bound that spares the
    # older files): a post published earlier or later than its stored row says must still have
    # that row replaced, not kept beside the new one.
    lake = _lake(tmp_path)
    link_campaigns(lake)
    write_posts(
        lake,
        [
            post("a1", f"{FLU} 💉", account_id="cdc-x", hours=-240, seen_hours=200),  # earlier
            post("d2", FLU + "!", platform="facebook", account_id="fda-fb", hours=300),  # later
        ],
    )
    step = link_campaigns(lake)
    items = lake.read("silver/campaign_items")
    assert items.select("platform", "post_id").is_duplicated().sum() == 0
    assert step.rows_in == 14  # every post of both agencies
    groups = _groups(items)
    assert {"a1"} in groups and {"a2", "a3"} in groups  # A without its first post
    assert {"d1"} in groups and {"d2"} in groups  # FDA's copies now 12 days apart
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "lake", copy)
    link_campaigns(Lake(str(copy)), full=True)
    full = Lake(str(copy)).read("silver/campaign_items").drop("linked_at")
    assert (
        items.drop("linked_at").sort("platform", "post_id").equals(full.sort("platform", "post_id"))
    )


def test_relink_start_moves_back_past_every_straddling_campaign() -> None:
    """Each agency's relink start: WINDOW before its first changed post, moved back to the first
    post of any campaign straddling it, until none does (chains of campaigns included)."""
    import random

    from hhs_platform.enrich.campaigns import WINDOW, _relink_from

    rng = random.Random(5)
    stamp = pl.Datetime("us", "UTC")
    for _ in range(60):
        rows = []
        for c in range(rng.randint(0, 40)):
            agency, first = rng.choice("ABC"), T0 + timedelta(hours=rng.randint(0, 800))
            for _ in range(rng.randint(1, 3)):
                at = first + timedelta(hours=rng.randint(0, 72), microseconds=rng.randint(0, 999))
                rows.append({"agency": agency, "campaign_id": f"c{c}", "created_at": at})
        items = pl.DataFrame(
            rows, schema={"agency": pl.Utf8, "campaign_id": pl.Utf8, "created_at": stamp}
        )
        changed = pl.DataFrame(
            [
                {"agency": a, "changed_at": T0 + timedelta(hours=rng.randint(0, 900), seconds=1)}
                for a in rng.sample("ABCD", rng.randint(1, 4))  # D has no campaign
            ],
            schema={"agency": pl.Utf8, "changed_at": stamp},
        )
        spans: dict[str, list[tuple[datetime, datetime]]] = {}
        bounds = items.group_by("agency", "campaign_id").agg(
            first=pl.col("created_at").min(), last=pl.col("created_at").max()
        )
        for agency, first, last in bounds.select("agency", "first", "last").iter_rows():
            spans.setdefault(agency, []).append((first, last))
        want = []
        for agency, changed_at in changed.iter_rows():
            start = changed_at - WINDOW
            while across := [f for f, last in spans.get(agency, []) if f < start <= last]:
                start = min(across)
            want.append({"agency": agency, "_from": start})
        got = _relink_from(items.lazy(), changed)
        assert got.equals(pl.DataFrame(want, schema={"agency": pl.Utf8, "_from": stamp}))


def _reference_groups(posts: pl.DataFrame) -> list[set[str]]:
    """The module docstring's rules, pair by pair over every two posts (quadratic, obviously
    right): the campaigns ``link_posts`` must find with its indexes and sorts."""
    from hhs_platform.enrich.campaigns import LINK_THRESHOLD, THRESHOLD, WINDOW, _jaccard

    rows = posts.sort("agency", "created_at", "platform", "post_id").to_dicts()
    norm = [normalise_text("\n".join(p for p in (r["title"], r["text"]) if p)) for r in rows]
    words = [frozenset(t.split()) for t in norm]
    links = [frozenset(normalise_link(u) for u in (r["links"] or []) if u) for r in rows]
    edges = []
    for j in range(len(rows)):
        for i in range(j):
            a, b = rows[i], rows[j]
            if a["agency"] != b["agency"] or a["platform"] == b["platform"]:
                continue
            if abs(b["created_at"] - a["created_at"]) > WINDOW:
                continue
            same = bool(norm[i]) and norm[i] == norm[j]
            near = _jaccard(words[i], words[j]) >= THRESHOLD
            linked = bool(links[i]) and links[i] == links[j]
            alike = not words[i] or not words[j] or _jaccard(words[i], words[j]) >= LINK_THRESHOLD
            if same or near or (linked and alike):
                edges.append((i, j))
    # earliest links first (by the later post's time), never spanning more than the window
    parent = list(range(len(rows)))
    first = [r["created_at"] for r in rows]
    last = list(first)

    def find(k: int) -> int:
        while parent[k] != k:
            k = parent[k]
        return k

    times = [r["created_at"] for r in rows]
    for i, j in sorted(edges, key=lambda e: (times[e[1]], times[e[0]], e[1], e[0])):
        x, y = find(i), find(j)
        if x == y or max(last[x], last[y]) - min(first[x], first[y]) > WINDOW:
            continue
        root, other = min(x, y), max(x, y)
        parent[other] = root
        first[root], last[root] = min(first[x], first[y]), max(last[x], last[y])
    groups: dict[int, set[str]] = {}
    for k, r in enumerate(rows):
        groups.setdefault(find(k), set()).add(r["post_id"])
    return sorted(groups.values(), key=lambda g: sorted(g))


def _random_posts(n: int, agencies: list[str], seed: int = 11) -> pl.DataFrame:
    """``n`` posts of ``agencies`` on 4 platforms over 12 days, texts drawn from 25 phrases
    with words dropped and added (near-duplicates, repeated texts, shared links)."""
    import random

    rng = random.Random(seed)
    vocabulary = [f"w{k}" for k in range(60)]
    phrases = [" ".join(rng.sample(vocabulary, 8)) for _ in range(25)]
    rows = []
    for k in range(n):
        words = rng.choice(phrases).split()
        if rng.random() < 0.5:
            words.pop(rng.randrange(len(words)))
        if rng.random() < 0.3:
            words.append(rng.choice(["now", "please", "2026", "#health"]))
        rows.append(
            {
                "platform": rng.choice(["x", "bluesky", "facebook", "threads"]),
                "post_id": f"p{k}",
                "account_id": "a",
                "created_at": T0 + timedelta(minutes=rng.randrange(12 * 24 * 60)),
                "post_type": "post",
                "text": " ".join(words) if rng.random() < 0.9 else None,
                "title": None,
                "links": [rng.choice(["https://cdc.gov/flu", "https://www.cdc.gov/flu/"])]
                if rng.random() < 0.2
                else [],
                "last_seen_at": T0,
                "agency": rng.choice(agencies),
            }
        )
    return pl.DataFrame(rows, schema_overrides={"links": pl.List(pl.Utf8), "title": pl.Utf8})


def test_link_posts_equals_the_rules_applied_pair_by_pair() -> None:
    """400 posts of 2 agencies (:func:`_random_posts`): the same campaigns as the rules applied
    to every pair of posts."""
    from hhs_platform.enrich.campaigns import link_posts

    posts = _random_posts(400, ["CDC", "FDA"])
    got = _groups(link_posts(posts, linked_at=T0))
    want = _reference_groups(posts)
    assert got == want
    assert sum(len(g) > 1 for g in want) > 20  # many campaigns of several posts were formed


def test_many_posts_are_linked_a_share_of_agencies_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Beyond LINK_POSTS_AT_ONCE posts, one process links shares of agencies one after another
    (its memory is a share's): the rows of one call over every post."""
    from hhs_platform.enrich import campaigns

    posts = _random_posts(1_200, ["CDC", "FDA", "NIH", "CMS", "HRSA", "SAMHSA", "ACF"], seed=3)
    link = campaigns.link_posts
    whole = link(posts, linked_at=T0).drop("linked_at")
    calls: list[int] = []

    def counted(part: pl.DataFrame, **kwargs: Any) -> pl.DataFrame:  # the real linking, counted
        calls.append(part.height)
        return link(part, **kwargs)

    monkeypatch.setattr(campaigns, "LINK_POSTS_AT_ONCE", 400)
    monkeypatch.setattr(campaigns, "link_posts", counted)
    shares = campaigns.link_agencies(posts).drop("linked_at")
    assert len(calls) == 3 and sum(calls) == posts.height  # three shares of about 400
    assert max(calls) < 600
    assert shares.equals(whole)
    assert shares["campaign_id"].n_unique() < shares.height  # campaigns of several posts


def _enrich_spread(lake: Lake) -> tuple[int, int]:
    from hhs_platform.enrich import enrich_posts

    features = enrich_posts(lake, spread_from=1)
    return features.rows_in, link_campaigns(lake, spread_from=1).rows_in


def test_enrichment_spread_over_a_cluster_equals_one_process(
    tmp_path: Path, two_workers: Client
) -> None:
    """Inside a Dask task, post features are computed in slices and agencies linked apart, on
    every worker of the cluster: the same rows as in one process."""
    from distributed import get_task_stream

    from hhs_platform.enrich import enrich_posts

    here = _lake(tmp_path / "here")
    there = _lake(tmp_path / "there")
    assert (enrich_posts(here).rows_in, link_campaigns(here).rows_in) == (16, 14)
    with get_task_stream(two_workers) as stream:
        assert two_workers.submit(_enrich_spread, there, pure=False).result() == (16, 14)
    ran = [t["key"] for t in stream.data]
    assert sum(str(k).startswith("post_features") for k in ran) == 2  # one slice a thread
    assert sum(str(k).startswith("link_posts") for k in ran) == 2  # CDC and FDA apart
    for table, stamp in (
        ("silver/post_features", "enriched_at"),
        ("silver/campaign_items", "linked_at"),
    ):
        a = here.read(table).drop(stamp).sort("platform", "post_id")
        b = there.read(table).drop(stamp).sort("platform", "post_id")
        assert a.height > 0 and a.equals(b), table
    assert _groups(there.read("silver/campaign_items")) == sorted(WANT, key=lambda g: sorted(g))
