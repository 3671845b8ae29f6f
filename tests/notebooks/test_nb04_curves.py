"""notebooks/04-engagement-curves-and-overperformance.ipynb over the demo world's lake: its ages,
typical curves, top overperformers and per-agency figures equal those computed here from the
lake's tables."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest
from notebook_run import notebook, run_notebook

NOTEBOOK = "04-engagement-curves-and-overperformance.ipynb"
AGE = 72
TOP = 10

TOP_LINE = re.compile(
    r"^#(\d+) ([\d.]+)x (\S+) (\S+) (\S+) post (\S+): ([\d,]+) vs usual ([\d,.]+)$", re.M
)
AGE_LINE = re.compile(r"^ *(\d+) h: ([\d,]+) posts, ([\d,]+) with a baseline$", re.M)
TYPICAL_LINE = re.compile(r"^Typical (\S+) (\S+) at (\d+) h: ([\d,.]+) over (\d+) posts$", re.M)
AGENCY_LINE = re.compile(
    r"^(\S+): (\d+) posts, median ([\d.]+)x, best ([\d.]+)x \((\S+) post (\S+)\)$", re.M
)


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def _curves_with_accounts(lake: Path) -> pl.DataFrame:
    curves = pl.read_delta(str(lake / "gold/post_curves"))
    accounts = pl.read_delta(str(lake / "silver/accounts")).select(
        "platform", "account_id", "agency", "handle"
    )
    return curves.join(accounts, on=["platform", "account_id"], how="left").with_columns(
        pl.col("agency").fill_null("(unassigned)")
    )


@pytest.mark.slow
def test_curves_notebook_matches_the_lake(notebook_lake: Path) -> None:
    ran = run_notebook(notebook(NOTEBOOK), notebook_lake)
    curves = _curves_with_accounts(notebook_lake.parent / "lake")
    assert curves.height > 0

    # points per age, and how many carry an overperformance
    expected_ages = {
        age: (len(rows), rows["overperformance"].is_not_null().sum())
        for (age,), rows in curves.group_by("age_hours")
    }
    shown_ages = {
        int(a): (int(_num(p)), int(_num(b))) for a, p, b in AGE_LINE.findall(ran.tagged("ages"))
    }
    assert shown_ages == expected_ages

    # typical curve: median engagement of original posts per account and age
    originals = curves.filter(pl.col("post_type") == "original")
    expected_typical = {
        (platform, handle, age): (rows["engagement"].median(), len(rows))
        for (platform, handle, age), rows in originals.group_by("platform", "handle", "age_hours")
    }
    shown_typical = {
        (p, h, int(a)): (_num(m), int(n))
        for p, h, a, m, n in TYPICAL_LINE.findall(ran.tagged("typical"))
    }
    assert shown_typical.keys() == expected_typical.keys()
    for key, (median, posts) in expected_typical.items():
        assert shown_typical[key] == (pytest.approx(median, abs=0.05), posts), key

    # top overperformers at 72 h: engagement / baseline, highest first
    scored = curves.filter((pl.col("age_hours") == AGE) & pl.col("overperformance").is_not_null())
    assert scored.height >= TOP, "the world lake should score enough posts at 72 h"
    ranked = sorted(
        scored.iter_rows(named=True),
        key=lambda r: (-r["engagement"] / r["baseline"], r["platform"], r["post_id"]),
    )[:TOP]
    shown_top = TOP_LINE.findall(ran.tagged("top"))
    assert len(shown_top) == TOP
    for rank, (row, line) in enumerate(zip(ranked, shown_top, strict=True), start=1):
        n, ratio, agency, platform, handle, post_id, engagement, baseline = line
        assert (int(n), agency, platform, handle, post_id) == (
            rank,
            row["agency"],
            row["platform"],
            row["handle"],
            row["post_id"],
        )
        assert float(ratio) == pytest.approx(row["engagement"] / row["baseline"], abs=5e-4)
        assert int(_num(engagement)) == row["engagement"]
        assert _num(baseline) == pytest.approx(row["baseline"], abs=0.05)

    # the baseline of the top post, recomputed from the 20 posts before it, equals gold's
    best = ranked[0]
    earlier = (
        curves.filter(
            (pl.col("platform") == best["platform"])
            & (pl.col("account_id") == best["account_id"])
            & (pl.col("post_type") == best["post_type"])
            & (pl.col("age_hours") == AGE)
        )
        .sort("created_at", "post_id")
        .with_row_index("i")
    )
    position = earlier.filter(pl.col("post_id") == best["post_id"])["i"][0]
    by_hand = earlier.filter(pl.col("i") < position).tail(20)["engagement"].median()
    check = ran.tagged("check")
    assert (
        f"Baseline of the top post from its {min(position, 20)} previous posts: {by_hand:,.1f}"
        in check
    )
    assert f"Baseline in gold/post_curves: {best['baseline']:,.1f}" in check
    assert by_hand == pytest.approx(best["baseline"])

    # per agency: posts scored, median ratio and best post
    shown_agencies = {
        a: (int(n), float(m), float(b), h, p)
        for a, n, m, b, h, p in AGENCY_LINE.findall(ran.tagged("agencies"))
    }
    expected_agencies = {}
    for (agency,), rows in scored.group_by("agency"):
        top_row = min(
            rows.iter_rows(named=True),
            key=lambda r: (-r["overperformance"], r["platform"], r["post_id"]),
        )
        expected_agencies[agency] = (
            len(rows),
            rows["overperformance"].median(),
            top_row["overperformance"],
            top_row["handle"],
            top_row["post_id"],
        )
    assert shown_agencies.keys() == expected_agencies.keys()
    for agency, (n, median, best_ratio, handle, post_id) in expected_agencies.items():
        assert shown_agencies[agency] == (
            n,
            pytest.approx(median, abs=5e-4),
            pytest.approx(best_ratio, abs=5e-4),
            handle,
            post_id,
        )
