"""Compare the lake with a ground truth (the simulated platforms' export): recall, duplicates, accuracy."""

from __future__ import annotations

from typing import Any

import polars as pl

from hhs_platform.lake.store import Lake

METRICS = ("likes", "reposts", "replies", "quotes", "views")
ACCOUNT_FIGURES = ("followers", "following", "posts_count")


def latest_post_metrics(lake: Lake) -> pl.DataFrame:
    """Each post's counters at its latest observation."""
    return (
        lake.scan("silver/post_metrics")
        .sort("observed_at")
        .group_by("platform", "post_id")
        .agg(pl.col(list(METRICS)).last())
        .collect()
    )


def latest_snapshots(lake: Lake) -> pl.DataFrame:
    """Each account's figures at its latest observation."""
    return (
        lake.scan("silver/account_snapshots")
        .sort("observed_at")
        .group_by("platform", "account_id")
        .agg(pl.col(list(ACCOUNT_FIGURES)).last())
        .collect()
    )


def compare_with_truth(lake: Lake, truth: dict[str, pl.DataFrame]) -> list[dict[str, Any]]:
    """Per platform: posts expected/found/missing/extra/duplicated and exact-match rates per field.

    ``truth`` has ``posts`` (platform, post_id, account_id, post_type, created_at and the counters)
    and ``accounts`` (platform, account_id and the figures), as served at collection time; and
    optionally ``deleted`` (platform, post_id: posts deleted by then).

    Tombstones (``is_deleted``) are not served content: they count as neither found nor extra.
    ``tombstones`` counts them and, when ``truth`` has ``deleted``, ``tombstones_wrong`` counts
    those the truth does not call deleted (a post wrongly marked gone).
    """
    stored = lake.read(
        "silver/posts", columns=["platform", "post_id", "post_type", "account_id", "is_deleted"]
    )
    posts = stored.filter(~pl.col("is_deleted"))
    gone = stored.filter(pl.col("is_deleted"))
    deleted = truth.get("deleted")
    metrics = latest_post_metrics(lake)
    snaps = latest_snapshots(lake)
    out = []
    for platform in sorted(truth["posts"]["platform"].unique().to_list()):
        t_posts = truth["posts"].filter(platform=platform)
        l_posts = posts.filter(platform=platform)
        want, got = set(t_posts["post_id"]), set(l_posts["post_id"])
        row: dict[str, Any] = {
            "platform": platform,
            "posts_expected": len(want),
            "posts_found": len(want & got),
            "posts_missing": len(want - got),
            "posts_extra": len(got - want),
            "duplicate_keys": int(l_posts.select("post_id").is_duplicated().sum()),
        }
        l_gone = set(gone.filter(platform=platform)["post_id"])
        row["tombstones"] = len(l_gone)
        if deleted is not None:
            row["tombstones_wrong"] = len(
                l_gone - set(deleted.filter(platform=platform)["post_id"])
            )
        row["recall"] = row["posts_found"] / row["posts_expected"] if want else 1.0
        served = t_posts.filter(pl.col("post_type") != "repost")
        cmp = served.join(
            metrics.filter(platform=platform),
            on=["platform", "post_id"],
            how="left",
            suffix="_lake",
        )
        for m in METRICS:
            row[f"{m}_accuracy"] = _rate(cmp[m], cmp[f"{m}_lake"])
        t_acc = truth["accounts"].filter(platform=platform)
        found = snaps.filter(platform=platform).with_columns(_found=pl.lit(True))
        acc = t_acc.join(found, on=["platform", "account_id"], how="left", suffix="_lake")
        row["accounts_expected"] = t_acc.height
        row["accounts_found"] = int(acc["_found"].fill_null(False).sum())
        for f in ACCOUNT_FIGURES:
            row[f"{f}_accuracy"] = _rate(acc[f], acc[f"{f}_lake"])
        out.append(row)
    return out


def is_exact(report: list[dict[str, Any]]) -> bool:
    """True when every post is found once and every field matches."""
    return not inexact(report)


#: Counts of a truth comparison that are 0 when the lake is exact.
_EXACT_COUNTS = ("posts_missing", "posts_extra", "duplicate_keys", "tombstones_wrong")


def inexact(report: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The platforms of a truth comparison that are not exact, each with only the figures that
    say why (e.g. ``{"platform": "x", "likes_accuracy": 0.98}``); empty when exact."""
    out = []
    for row in report:
        wrong = {k: row[k] for k in _EXACT_COUNTS if row.get(k, 0) != 0}
        wrong |= {k: v for k, v in row.items() if k.endswith("_accuracy") and v != 1.0}
        if wrong:
            out.append({"platform": row["platform"], **wrong})
    return out


def _rate(expected: pl.Series, found: pl.Series) -> float:
    """Share of values that match exactly (nulls match nulls); 1.0 for nothing to compare."""
    return int(expected.eq_missing(found).sum()) / len(expected) if len(expected) else 1.0
