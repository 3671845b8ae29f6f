"""The summary a collection run publishes (Prefect artifact, CLI output)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date
from typing import Any

import polars as pl

from hhs_platform.collect import BatchOutcome
from hhs_platform.lake import Lake

#: Failed accounts listed one by one in the markdown; the rest are counted.
MAX_LISTED_ERRORS = 50


def run_summary_rows(outcomes: list[BatchOutcome]) -> list[dict[str, Any]]:
    """One row per platform: accounts, responses, posts, metrics, quarantined, errors, time.

    ``seconds`` adds up the batches' own times (work done); ``wall_seconds`` is from the first
    batch's start to the last one's end (how long the platform took in this run).
    """
    acc: dict[str, dict[str, Any]] = defaultdict(
        lambda: {
            "accounts": 0,
            "responses": 0,
            "posts": 0,
            "post_metrics": 0,
            "snapshots": 0,
            "quarantined": 0,
            "errors": 0,
            "seconds": 0.0,
            "wall_seconds": 0.0,
        }
    )
    spans: dict[str, list[Any]] = defaultdict(list)
    for o in outcomes:
        platform = o.batch_id.rsplit("-", 1)[0]
        row = acc[platform]
        counts = o.silver.counts()
        row["accounts"] += o.accounts
        row["responses"] += o.responses
        row["posts"] += counts.get("silver/posts", 0)
        row["post_metrics"] += counts.get("silver/post_metrics", 0)
        row["snapshots"] += counts.get("silver/account_snapshots", 0)
        row["quarantined"] += counts.get("quarantine/rows", 0)
        row["errors"] += len(o.errors)
        row["seconds"] = round(row["seconds"] + o.elapsed_s, 2)
        if o.started_at is not None and o.finished_at is not None:
            spans[platform] += [o.started_at, o.finished_at]
    for platform, times in spans.items():
        acc[platform]["wall_seconds"] = round((max(times) - min(times)).total_seconds(), 2)
    return [{"platform": p, **v} for p, v in sorted(acc.items())]


def run_quality(lake: Lake, registry: pl.DataFrame, day: date) -> dict[str, float | None]:
    """The run's quality score: the mean ``overall`` of ``day``'s scorecard rows of the run's
    accounts, per platform and ``all`` (None where nothing could be scored)."""
    if not lake.exists("quality/scorecard") or registry.is_empty():
        return {"all": None}
    keys = registry.select(
        pl.concat_str(pl.col("platform"), pl.lit(":"), pl.col("handle")).alias("account_key")
    )
    rows = (
        lake.scan("quality/scorecard")
        .filter(pl.col("date") == day)
        .select("platform", "account_key", "overall")
        .collect()
        .join(keys, on="account_key", how="semi")
        .drop_nulls("overall")
    )
    if rows.is_empty():
        return {"all": None}
    out: dict[str, float | None] = {"all": round(float(rows["overall"].mean()), 4)}  # type: ignore[arg-type]
    for platform, score in (
        rows.group_by("platform").agg(pl.col("overall").mean()).sort("platform").iter_rows()
    ):
        out[platform] = round(float(score), 4)
    return out


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def run_summary_markdown(summary: dict[str, Any]) -> str:
    """A markdown page for the Prefect UI: what was collected, what failed and why, the run's
    quality score and the time per platform."""
    quality = summary.get("quality_score") or {}
    lines = [
        f"# Collection run `{summary['run_id']}`",
        "",
        f"Lake: `{summary['lake_uri']}` · accounts: **{summary['accounts']}** · "
        f"responses archived: **{summary['responses']}** · account errors: **{len(summary['errors'])}**"
        f" · quality score: **{_score(quality.get('all'))}**",
    ]
    if summary.get("tiers"):
        lines.append(f"Tiers: {', '.join(map(str, summary['tiers']))}")
    if summary.get("backfill"):
        first, last = summary["backfill"]
        lines.append(
            f"Backfill of the posts published {first} .. {last} (no account snapshots: "
            "platforms serve only current follower counts)"
        )
    lines += [
        "",
        "| platform | accounts | responses | posts | post metrics | snapshots | quarantined | errors "
        "| quality | wall seconds | task seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summary["per_platform"]:
        lines.append(
            f"| {r['platform']} | {r['accounts']} | {r['responses']} | {r['posts']} | {r['post_metrics']} | "
            f"{r['snapshots']} | {r['quarantined']} | {r['errors']} | "
            f"{_score(quality.get(r['platform']))} | {r.get('wall_seconds', '')} | {r['seconds']} |"
        )
    lines += [
        "",
        "## Silver writes",
        "",
        "| table | rows | inserted | updated |",
        "|---|---:|---:|---:|",
    ]
    for name, s in summary["silver"].items():
        lines.append(f"| {name} | {s['rows']} | {s['inserted']} | {s['updated']} |")
    if summary["errors"]:
        errors = summary["errors"]
        by_type = Counter(e["error"] for e in errors)
        lines += ["", f"## Accounts with errors ({len(errors)})", ""]
        lines += ["| error | accounts |", "|---|---:|"]
        lines += [f"| {kind} | {n} |" for kind, n in by_type.most_common()]
        lines += ["", "| account | error | message |", "|---|---|---|"]
        for e in errors[:MAX_LISTED_ERRORS]:
            msg = str(e["message"]).replace("|", "\\|").replace("\n", " ")[:200]
            lines.append(f"| {e['account_key']} | {e['error']} | {msg} |")
        if len(errors) > MAX_LISTED_ERRORS:
            lines.append(f"| … and {len(errors) - MAX_LISTED_ERRORS} more | | |")
    if summary.get("drift"):
        lines += ["", "## Fields the platforms stopped sending (format drift)", ""]
        lines += [
            "| platform | endpoint | field | responses missing / checked |",
            "|---|---|---|---:|",
        ]
        for d in summary["drift"][:50]:
            lines.append(
                f"| {d['platform']} | {d['endpoint']} | `{d['field']}` | "
                f"{d['responses_missing']} / {d['responses_checked']} |"
            )
    if summary.get("skipped_platforms"):
        lines += ["", "## Not collected", "", "| platform | accounts | why |", "|---|---:|---|"]
        for p, why in summary["skipped_platforms"].items():
            lines.append(f"| {p} | {why['accounts']} | {why['reason']} |")
    return "\n".join(lines)
