"""notebooks/05-data-quality-and-coverage.ipynb over the demo world's lake: its scorecard,
quarantine, fetch and coverage figures equal those computed here from the lake, and the world's
planted collection outage is the one gap it finds."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import polars as pl
import pytest
from dashboard_lakes import WORLD_DAYS, WORLD_OUTAGE, WORLD_REGISTRY
from notebook_run import notebook, run_notebook

from hhs_platform.lake import Lake
from hhs_platform.quality.audit import quarantine_counts
from hhs_platform.registry import write_registry

NOTEBOOK = "05-data-quality-and-coverage.ipynb"
SCORES = ("completeness", "freshness", "validity", "drift", "overall")
OUTAGE_KEY = "mastodon:hhs"
#: Registry rows the world never serves: the notebook must list them as never collected.
NOT_COLLECTED = [
    (
        "SAMHSA",
        "Substance Abuse and Mental Health Services Administration",
        "bluesky",
        "samhsa.gov",
    ),
    ("FDA", "Food and Drug Administration", "youtube", "@US_FDA"),
]

COVERAGE_LINE = re.compile(
    r"^Coverage (\S+): (\d+)/(\d+) accounts, (\d+)/(\d+) account-days \(([\d.]+)%\)$", re.M
)
GAP_LINE = re.compile(r"^(\S+) missing (\d+) days: (.+)$", re.M)
RULE_LINE = re.compile(r"^(\w+): ([\d,]+) rows$", re.M)
REQUESTS_LINE = re.compile(
    r"^(\S+): ([\d,]+) requests, ([\d,]+) answered 2xx, ([\d,]+) errors, median ([\d.]+) ms$", re.M
)


def _registry_file(folder: Path) -> Path:
    extra = pl.DataFrame(
        [
            {
                "agency": agency,
                "agency_name": name,
                "parent_agency": "HHS",
                "platform": platform,
                "handle": handle,
                "platform_id": None,
                "url": f"https://example.org/{platform}/{handle}",
                "tier": 2,
                "verified": False,
                "source": "test",
            }
            for agency, name, platform, handle in NOT_COLLECTED
        ],
        schema=WORLD_REGISTRY.schema,
    )
    registry = pl.concat([WORLD_REGISTRY, extra]).with_columns(
        previous_handles=pl.lit(None, pl.Utf8)
    )
    return write_registry(registry, folder / "accounts.csv")


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


@pytest.mark.slow
def test_quality_notebook_matches_the_lake(
    notebook_lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HHS_ACCOUNTS_FILE", str(_registry_file(notebook_lake)))
    ran = run_notebook(notebook(NOTEBOOK), notebook_lake)
    lake = notebook_lake.parent / "lake"

    # scorecard: each account's latest day, averaged per platform (nulls left out)
    scorecard = pl.read_delta(str(lake / "quality/scorecard"))
    latest = scorecard.sort("date").group_by("platform", "account_id").last()
    shown = ran.tagged("scorecard")
    for (platform,), rows in latest.group_by("platform"):
        scores = ", ".join(f"{s} {_score(rows[s].mean())}" for s in SCORES)  # type: ignore[arg-type]
        assert f"{platform}: {rows.height} accounts, {scores}" in shown

    # quarantine by rule: the audit's classes, counted over every platform
    quarantine = pl.read_delta(str(lake / "quarantine/rows"))
    expected_rules: dict[str, int] = {}
    for counts in quarantine_counts(Lake(str(lake))).values():
        for rule, n in counts.items():
            expected_rules[rule] = expected_rules.get(rule, 0) + n
    text = ran.tagged("quarantine")
    assert f"Quarantined rows: {quarantine.height:,}" in text
    assert quarantine.height > 0, "the world's malformed pages should quarantine rows"
    assert {r: int(n.replace(",", "")) for r, n in RULE_LINE.findall(text)} == expected_rules

    # fetches and responses
    fetch_log = pl.read_delta(str(lake / "bronze/fetch_log"))
    text = ran.tagged("fetches")
    assert (
        f"Runs: {fetch_log['run_id'].n_unique():,}; account fetches: {fetch_log.height:,}" in text
    )
    for status, n in fetch_log["status"].value_counts().iter_rows():
        assert f"fetches {status}: {n:,}" in text
    responses = pl.read_delta(
        str(lake / "bronze/raw_responses"), columns=["platform", "status", "elapsed_ms"]
    )
    shown_requests = {
        p: (int(n.replace(",", "")), int(ok.replace(",", "")), int(err.replace(",", "")), float(ms))
        for p, n, ok, err, ms in REQUESTS_LINE.findall(text)
    }
    assert shown_requests.keys() == set(responses["platform"])
    for (platform,), rows in responses.group_by("platform"):
        statuses = rows["status"].to_list()
        assert shown_requests[platform] == (
            len(statuses),
            sum(200 <= s < 300 for s in statuses),
            sum(s == 0 or s >= 400 for s in statuses),
            pytest.approx(rows["elapsed_ms"].median(), abs=0.05),
        )

    # collection gaps: exactly the planted outage of mastodon:hhs
    gaps = {
        key: [dt.date.fromisoformat(d) for d in days.split(", ")]
        for key, _, days in GAP_LINE.findall(ran.tagged("gaps"))
    }
    assert gaps == {OUTAGE_KEY: sorted(WORLD_OUTAGE)}

    # coverage per platform, from the world's ground truth: every world account collected on
    # each of the WORLD_DAYS days but the outage's, the extra registry rows never
    keys = [f"{p}:{h}" for p, h in WORLD_REGISTRY.select("platform", "handle").iter_rows()]
    expected_coverage: dict[str, list[int]] = {}
    for key in keys:
        platform = key.split(":")[0]
        days = WORLD_DAYS - (len(WORLD_OUTAGE) if key == OUTAGE_KEY else 0)
        registered, collected, account_days = expected_coverage.get(platform, [0, 0, 0])
        expected_coverage[platform] = [registered + 1, collected + 1, account_days + days]
    for _, _, platform, _ in NOT_COLLECTED:
        expected_coverage[platform][0] += 1
    shown_coverage = {
        p: (int(c), int(r), int(d), int(e), float(pct))
        for p, c, r, d, e, pct in COVERAGE_LINE.findall(ran.tagged("coverage"))
    }
    assert shown_coverage.keys() == expected_coverage.keys()
    for platform, (registered, collected, account_days) in expected_coverage.items():
        expected_days = registered * WORLD_DAYS
        assert shown_coverage[platform] == (
            collected,
            registered,
            account_days,
            expected_days,
            pytest.approx(100 * account_days / expected_days, abs=0.05),
        )
    # the same account-days from the lake's fetch log
    ok = fetch_log.filter(pl.col("status").is_in(["complete", "partial"])).with_columns(
        day=pl.col("started_at").dt.date()
    )
    assert ok.select("account_key", "day").unique().height == sum(
        v[2] for v in expected_coverage.values()
    )

    # registry accounts never collected: the extra rows, and nothing collected is unregistered
    text = ran.tagged("never")
    assert f"Registry accounts never collected: {len(NOT_COLLECTED)}" in text
    assert re.findall(r"^never collected: (\S+)$", text, re.M) == sorted(
        f"{p}:{h}" for _, _, p, h in NOT_COLLECTED
    )
    assert "Collected accounts not in the registry: 0" in text
