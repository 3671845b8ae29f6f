"""Third-party minimisation in silver, forgetting a person, and the official-accounts-only guard,
on small real lakes whose expected values the tests compute independently."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from hhs_platform.collect import plan_batches
from hhs_platform.errors import ConfigurationError
from hhs_platform.lake import Lake
from hhs_platform.lake.minimise import MentionPolicy, minimise_batch, minimise_lake
from hhs_platform.lake.privacy import AUDIT, forget_person, subject_hash
from hhs_platform.lake.silver import write_silver
from hhs_platform.settings import Settings
from hhs_platform.transforms.normalize import SilverBatch
from schemas import table_spec

KEY = b"test-pseudonym-key-0123456789"
T0 = datetime(2026, 11, 1, tzinfo=UTC)
#: CDC (official, id 100) replies to a private person, mentions HHS (official) and a second
#: person, and reposts a post of the first person (author 900, url naming her).
POSTS = [
    {
        "post_id": "1",
        "account_id": "100",
        "author_id": "100",
        "post_type": "reply",
        "text": "@Jane_Doe thanks! See @HHSgov and @bob.smith. Mail info@cdc.gov",
        "mentions": ["Jane_Doe", "HHSgov", "bob.smith"],
        "url": "https://x.com/CDCgov/status/1",
    },
    {
        "post_id": "2",
        "account_id": "100",
        "author_id": "900",
        "post_type": "repost",
        "text": "Got my flu shot today, ask @CDCgov",
        "mentions": ["CDCgov"],
        "url": "https://x.com/Jane_Doe/status/2",
    },
    {
        "post_id": "3",
        "account_id": "100",
        "author_id": "100",
        "post_type": "original",
        "text": "Flu season is here.",
        "mentions": [],
        "url": "https://x.com/CDCgov/status/3",
    },
]


def _posts(rows: list[dict]) -> pl.DataFrame:
    base = {
        "run_id": "run-1",
        "response_id": "r1",
        "connector_version": "1",
        "platform": "x",
        "created_at": T0,
        "media_count": 0,
        "is_deleted": False,
        "first_seen_at": T0,
        "last_seen_at": T0,
    }
    spec = table_spec("silver/posts")
    return pl.DataFrame([{**base, **r} for r in rows], schema_overrides=spec.schema).select(
        [
            pl.col(c).cast(t) if c in [*base, *rows[0]] else pl.lit(None, t).alias(c)
            for c, t in spec.schema.items()
        ]
    )


def _accounts() -> pl.DataFrame:
    spec = table_spec("silver/accounts")
    rows = [
        {"platform": "x", "account_id": "100", "handle": "CDCgov", "account_key": "x:CDCgov"},
        {"platform": "x", "account_id": "101", "handle": "HHSgov", "account_key": "x:HHSgov"},
    ]
    base = {
        "run_id": "run-1",
        "response_id": "r0",
        "connector_version": "1",
        "first_seen_at": T0,
        "last_seen_at": T0,
    }
    df = pl.DataFrame([{**base, **r} for r in rows])
    return df.with_columns(
        pl.lit(None, t).alias(c) for c, t in spec.schema.items() if c not in df.columns
    ).select([pl.col(c).cast(t) for c, t in spec.schema.items()])


def _pseudonym(platform: str, handle: str) -> str:
    msg = f"{platform}:{handle.lower()}".encode()
    return "anon-" + hmac.new(KEY, msg, hashlib.sha256).hexdigest()[:16]


def _batch() -> SilverBatch:
    return SilverBatch(tables={"silver/accounts": _accounts(), "silver/posts": _posts(POSTS)})


NO_REGISTRY = pl.DataFrame(
    schema={
        "platform": pl.Utf8,
        "handle": pl.Utf8,
        "platform_id": pl.Utf8,
        "previous_handles": pl.Utf8,
    }
)


def test_pseudonymise_rewrites_third_parties_and_keeps_official_accounts(tmp_path: Path) -> None:
    out = (
        minimise_batch(
            Lake(str(tmp_path / "lake")), _batch(), MentionPolicy("pseudonymise", KEY), NO_REGISTRY
        )
        .tables["silver/posts"]
        .sort("post_id")
    )
    jane, bob = _pseudonym("x", "jane_doe"), _pseudonym("x", "bob.smith")
    assert out["text"].to_list() == [
        f"@{jane} thanks! See @HHSgov and @{bob}. Mail info@cdc.gov",
        "Got my flu shot today, ask @CDCgov",
        "Flu season is here.",
    ]
    assert out["mentions"].to_list() == [[jane, "HHSgov", bob], ["CDCgov"], []]
    assert out["author_id"].to_list() == ["100", _pseudonym("x", "900"), "100"]
    assert out["url"].to_list() == [
        "https://x.com/CDCgov/status/1",
        None,
        "https://x.com/CDCgov/status/3",
    ]
    # every other column is untouched
    same = [c for c in out.columns if c not in ("text", "mentions", "author_id", "url")]
    assert out.select(same).equals(_posts(POSTS).select(same))


def test_drop_removes_third_parties_and_keep_changes_nothing(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    out = minimise_batch(lake, _batch(), MentionPolicy("drop"), NO_REGISTRY)
    posts = out.tables["silver/posts"].sort("post_id")
    assert posts["text"][0] == "@[removed] thanks! See @HHSgov and @[removed]. Mail info@cdc.gov"
    assert posts["mentions"].to_list() == [["HHSgov"], ["CDCgov"], []]
    assert posts["author_id"].to_list() == ["100", "[removed]", "100"]
    kept = minimise_batch(lake, _batch(), MentionPolicy("keep"), NO_REGISTRY)
    assert kept.tables["silver/posts"].equals(_posts(POSTS))
    with pytest.raises(ConfigurationError, match="HHS_PRIVACY_PSEUDONYM_KEY"):
        MentionPolicy("pseudonymise", b"short")


def test_forget_person_leaves_no_reference_and_keeps_the_official_posts(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    write_silver(lake, _batch())  # default policy (keep): the handles are stored verbatim
    raw = table_spec("bronze/raw_responses").empty().schema
    bodies = {"r1": {"text": "@Jane_Doe thanks!"}, "r2": {"text": "Flu season is here."}}
    lake.append(
        "bronze/raw_responses",
        pl.DataFrame(
            [
                {
                    "response_id": rid,
                    "run_id": "run-1",
                    "platform": "x",
                    "endpoint": "tweets",
                    "account_key": "x:CDCgov",
                    "request_url": "u",
                    "status": 200,
                    "headers": "{}",
                    "body": json.dumps(b).encode(),
                    "payload_hash": rid,
                    "fetched_at": T0,
                    "fetched_date": T0.date(),
                    "elapsed_ms": 1.0,
                    "page": 0,
                    "connector_version": "1",
                }
                for rid, b in bodies.items()
            ],
            schema=raw,
        ),
    )
    before = lake.read("silver/posts").sort("post_id")
    dry = forget_person(lake, "x:jane_doe", dry_run=True)
    # post 1 names her; post 2 (her post, reposted) has a link with her handle
    assert dry.rows_rewritten == {"silver/posts": 2} and dry.rows_deleted == {
        "bronze/raw_responses": 1
    }
    report = forget_person(lake, "x:jane_doe", reason="ticket 7 for jane_doe")
    posts = lake.read("silver/posts").sort("post_id")
    assert posts.height == 3 and posts["post_id"].to_list() == before["post_id"].to_list()
    assert posts["text"][0] == "@[removed] thanks! See @HHSgov and @bob.smith. Mail info@cdc.gov"
    assert posts["mentions"][0].to_list() == ["HHSgov", "bob.smith"]
    assert posts["url"][1] is None
    same = [c for c in posts.columns if c != "url"]
    assert posts.slice(1).select(same).equals(before.slice(1).select(same))
    assert posts.slice(2).equals(before.slice(2))  # the post not naming her is unchanged
    assert lake.read("bronze/raw_responses")["response_id"].to_list() == ["r2"]
    assert report.references_left == {}
    audit = lake.read(AUDIT)
    assert audit["subject_hash"].to_list() == [subject_hash("x", "jane_doe")]
    assert audit["reason"].to_list() == ["ticket 7 for [subject]"]
    # no file of any version holds the handle any more
    for path in (tmp_path / "lake").rglob("*"):
        if path.is_file():
            assert b"jane_doe" not in path.read_bytes().lower(), path


def test_minimise_lake_then_forget_the_pseudonym(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    write_silver(lake, _batch())
    counts = minimise_lake(lake, MentionPolicy("pseudonymise", KEY), NO_REGISTRY)
    assert counts == {"silver/posts": 2, "silver/post_features": 0}  # posts 1, 2 name people
    jane = _pseudonym("x", "jane_doe")
    assert lake.read("silver/posts").sort("post_id")["mentions"][0].to_list()[0] == jane
    report = forget_person(lake, "x:Jane_Doe", pseudonym_key=KEY)
    assert report.rows_rewritten == {"silver/posts": 1}
    text = lake.read("silver/posts").sort("post_id")["text"][0]
    assert jane not in text and text.startswith("@[removed] thanks!")


def test_unverified_registry_rows_are_collected_only_when_allowed() -> None:
    registry = pl.DataFrame(
        {
            "platform": ["bluesky"] * 3,
            "handle": ["cdc.gov", "hhs.gov", "nih.gov"],
            "platform_id": [None, None, None],
            "tier": [1, 1, 1],
            "verified": [True, False, True],
        },
        schema_overrides={"platform_id": pl.Utf8},
    )

    def planned(**kw: object) -> list[str]:
        return [r["handle"] for b in plan_batches(registry, 10, Settings(**kw)) for r in b]

    assert planned() == ["cdc.gov", "hhs.gov", "nih.gov"]  # default: today's behaviour
    assert planned(allow_unverified_accounts=False) == ["cdc.gov", "nih.gov"]
