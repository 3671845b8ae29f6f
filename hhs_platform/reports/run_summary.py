"""The summary a collection run publishes (Prefect artifact, CLI output)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from hhs_platform.collect import BatchOutcome


def run_summary_rows(outcomes: list[BatchOutcome]) -> list[dict[str, Any]]:
    """One row per platform: accounts, responses, posts, metrics, quarantined, errors, time."""
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
        }
    )
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
    return [{"platform": p, **v} for p, v in sorted(acc.items())]


def run_summary_markdown(summary: dict[str, Any]) -> str:
    """A markdown page for the Prefect UI."""
    lines = [
        f"# Collection run `{summary['run_id']}`",
        "",
        f"Lake: `{summary['lake_uri']}` · accounts: **{summary['accounts']}** · "
        f"responses archived: **{summary['responses']}** · account errors: **{len(summary['errors'])}**",
        "",
        "| platform | accounts | responses | posts | post metrics | snapshots | quarantined | errors | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summary["per_platform"]:
        lines.append(
            f"| {r['platform']} | {r['accounts']} | {r['responses']} | {r['posts']} | {r['post_metrics']} | "
            f"{r['snapshots']} | {r['quarantined']} | {r['errors']} | {r['seconds']} |"
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
        lines += [
            "",
            "## Accounts with errors",
            "",
            "| account | error | message |",
            "|---|---|---|",
        ]
        for e in summary["errors"][:50]:
            msg = str(e["message"]).replace("|", "\\|")[:200]
            lines.append(f"| {e['account_key']} | {e['error']} | {msg} |")
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
