"""No credential leaves the process: a collection of every platform with a recognisable fake
secret per credential, then every output is searched for each secret.

Outputs searched: every byte of every file under the lake folder (data files, ``_delta_log``
commits and checkpoints) and, because parquet pages are compressed, every value and every
statistic of every parquet file decoded; every log record of the run; the run summary; each
dashboard page saved as HTML; the executive brief's HTML; exports of the posts (CSV) and of
the raw responses (Parquet: the bodies are binary). The credentials come from environment
variables and from a secrets folder.
"""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import polars as pl
import pyarrow.parquet as pq
import pytest

from hhs_platform import pipeline
from hhs_platform.lake import Lake
from hhs_platform.registry import load_registry
from hhs_platform.sandbox import SandboxThread, SimClock
from hhs_platform.secrets import uninstall_redaction
from hhs_platform.settings import Settings, get_settings

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
HHS = "U.S. Department of Health and Human Services"
#: One distinct fake value per credential (the variable it is set in -> its value).
SECRETS = {
    "HHS_YOUTUBE_API_KEY": "leakprobe-youtube-key-1f6a0c",
    "HHS_YOUTUBE_API_KEYS": "leakprobe-youtube-key2-8d2e4b",
    "HHS_X_BEARER_TOKEN": "leakprobe-x-bearer-27c9e1",
    "HHS_FACEBOOK_ACCESS_TOKEN": "leakprobe-facebook-token-5b7d30",
    "HHS_INSTAGRAM_ACCESS_TOKEN": "leakprobe-instagram-token-c41f98",
    "HHS_THREADS_ACCESS_TOKEN": "leakprobe-threads-token-0a93d6",
    "HHS_LINKEDIN_ACCESS_TOKEN": "leakprobe-linkedin-token-e6b812",
    "HHS_REDDIT_ACCESS_TOKEN": "leakprobe-reddit-token-3c5a7f",
    "HHS_MASTODON_ACCESS_TOKEN": "leakprobe-mastodon-token-9e0b24",
    "HHS_TRUTHSOCIAL_ACCESS_TOKEN": "leakprobe-truthsocial-token-47f1ac",
    "HHS_FLICKR_API_KEY": "leakprobe-flickr-key-b82d5e",
    "HHS_USDR_API_KEY": "leakprobe-usdr-key-6a4c03",
    "HHS_ALERT_URLS": "leakprobe-alert-hook-d3f7a9",
    "HHS_DASHBOARD_PASSWORD": "leakprobe-dashboard-password-15e8c2",
    "HHS_DASHBOARD_COOKIE_SECRET": "leakprobe-cookie-secret-7b0e4d",
    "HHS_DASHBOARD_OAUTH_SECRET": "leakprobe-oauth-secret-a2c96f",
    "HHS_LAKE_STORAGE_OPTIONS": "leakprobe-aws-secret-access-key-5f3b1e",
}
#: Credentials given as files of a secrets folder (the others as environment variables).
AS_FILES = {"HHS_X_BEARER_TOKEN", "HHS_LINKEDIN_ACCESS_TOKEN", "HHS_LAKE_STORAGE_OPTIONS"}


def registry() -> pl.DataFrame:
    """One account of every platform with a connector (shipped rows where there are some)."""
    shipped = load_registry()
    have = set(shipped["platform"])
    extra = [
        ("mastodon", "hhs"),
        ("truthsocial", "seckennedy"),
        ("reddit", "u/HHSgov"),
        ("threads", "@hhsgov"),
    ]
    rows = pl.DataFrame(
        [
            {
                "agency": "HHS",
                "agency_name": HHS,
                "parent_agency": None,
                "platform": p,
                "handle": h,
                "platform_id": None,
                "previous_handles": None,
                "url": f"https://example.org/{p}/{h}",
                "tier": 1,
                "verified": True,
                "source": "test",
            }
            for p, h in extra
            if p not in have
        ],
        schema=shipped.schema,
    )
    picked = [shipped.filter(platform=p).head(1) for p in sorted(have - {"pinterest"})]
    return pl.concat([*picked, rows])


def variables(sb: SandboxThread) -> dict[str, str]:
    """Every variable of the run: API bases on the sandbox and the fake credentials."""
    values = {
        **SECRETS,
        "HHS_YOUTUBE_API_KEYS": json.dumps([SECRETS["HHS_YOUTUBE_API_KEYS"]]),
        "HHS_ALERT_URLS": f"json://127.0.0.1:9/{SECRETS['HHS_ALERT_URLS']}",
        "HHS_LAKE_STORAGE_OPTIONS": json.dumps(
            {"AWS_SECRET_ACCESS_KEY": SECRETS["HHS_LAKE_STORAGE_OPTIONS"]}
        ),
        "HHS_INSTAGRAM_BUSINESS_ACCOUNT_ID": "17841400000000001",
        "HHS_BATCH_SIZE": "4",
    }
    for platform in (
        "bluesky",
        "youtube",
        "x",
        "facebook",
        "instagram",
        "threads",
        "linkedin",
        "mastodon",
        "truthsocial",
        "reddit",
        "flickr",
    ):
        values[f"HHS_{platform.upper()}_API_BASE"] = sb.url(platform)
    return values


def found_in(text: str) -> list[str]:
    """The variables whose secret (or its URL-encoded form) is in ``text``."""
    return [
        name for name, secret in SECRETS.items() if secret in text or quote(secret, safe="") in text
    ]


def parquet_text(path: Path) -> str:
    """Every value, statistic and metadata entry of a parquet file, as text (its pages are
    compressed: a byte search alone would miss a secret in them)."""
    file = pq.ParquetFile(path)
    parts = [str(file.schema_arrow), str(file.metadata.metadata)]
    for g in range(file.metadata.num_row_groups):
        group = file.metadata.row_group(g)
        for c in range(group.num_columns):
            stats = group.column(c).statistics
            if stats is not None and stats.has_min_max:
                parts.append(f"{stats.min!r} {stats.max!r}")
    parts.append(json.dumps(file.read().to_pylist(), default=repr))
    return "\n".join(parts)


def lake_leaks(root: Path) -> dict[str, list[str]]:
    """Each file under ``root`` that holds a secret, with the variables found in it."""
    leaks: dict[str, list[str]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        text = path.read_bytes().decode("latin-1")
        if path.suffix == ".parquet":
            text += parquet_text(path)
        if hits := found_in(text):
            leaks[str(path.relative_to(root))] = hits
    return leaks


def test_the_scan_finds_a_secret_in_a_compressed_parquet_file(tmp_path: Path) -> None:
    planted = tmp_path / "lake" / "t"
    planted.mkdir(parents=True)
    token = SECRETS["HHS_X_BEARER_TOKEN"]
    frame = pl.DataFrame({"body": [f"row {i}: Bearer {token} and text" for i in range(200)]})
    frame.write_parquet(planted / "part-0.parquet", compression="zstd", statistics=False)
    assert token.encode() not in (planted / "part-0.parquet").read_bytes()
    assert lake_leaks(tmp_path / "lake") == {"t/part-0.parquet": ["HHS_X_BEARER_TOKEN"]}


@pytest.mark.slow
def test_no_secret_reaches_the_lake_logs_dashboards_brief_or_exports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from distributed import Client, LocalCluster

    from hhs_platform.dashboards.server import DASHBOARDS
    from hhs_platform.exports import export_file
    from hhs_platform.reports.brief import render_html
    from hhs_platform.reports.highlights import load_highlights

    for name in [n for n in __import__("os").environ if n.startswith("HHS_")]:
        monkeypatch.delenv(name)
    # the code must keep secrets out of its logs by itself; the log filter is a second line
    # (a flow test of the session may have installed it)
    uninstall_redaction()
    accounts = registry()
    accounts_file = tmp_path / "accounts.csv"
    accounts.write_csv(accounts_file)
    limits = {
        "youtube_api_keys": {SECRETS["HHS_YOUTUBE_API_KEY"], SECRETS["HHS_YOUTUBE_API_KEYS"]},
        "x_bearer_tokens": {SECRETS["HHS_X_BEARER_TOKEN"]},
        "facebook_access_tokens": {SECRETS["HHS_FACEBOOK_ACCESS_TOKEN"]},
        "instagram_access_tokens": {SECRETS["HHS_INSTAGRAM_ACCESS_TOKEN"]},
        "threads_access_tokens": {SECRETS["HHS_THREADS_ACCESS_TOKEN"]: "hhsgov"},
        "linkedin_access_tokens": {SECRETS["HHS_LINKEDIN_ACCESS_TOKEN"]},
        "reddit_access_tokens": {SECRETS["HHS_REDDIT_ACCESS_TOKEN"]},
        "flickr_api_keys": {SECRETS["HHS_FLICKR_API_KEY"]},
    }
    secret_files = tmp_path / "secrets"
    secret_files.mkdir()
    lake_dir = tmp_path / "lake"
    caplog.set_level(logging.DEBUG)
    with (
        SandboxThread(
            accounts=accounts, seed=11, limits=limits, clock=SimClock(NOW, frozen=True)
        ) as sb,
        LocalCluster(
            n_workers=1, threads_per_worker=4, processes=False, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        for name, value in variables(sb).items():
            if name in AS_FILES:
                (secret_files / name).write_text(value + "\n", encoding="utf-8")
            else:
                monkeypatch.setenv(name, value)
        monkeypatch.setenv("HHS_SECRETS_DIR", str(secret_files))
        monkeypatch.setenv("HHS_LAKE_URI", str(lake_dir))
        get_settings.cache_clear()
        settings = Settings()
        # every credential is configured, from the variables and from the files
        configured = "\n".join(settings.secret_values())
        assert found_in(configured) == list(SECRETS)
        lake = Lake(str(lake_dir), settings.lake_storage_options)
        summary = pipeline.collect(
            client,
            lake=lake,
            accounts_file=str(accounts_file),
            settings=settings,
            progress=logging.getLogger("leak-test").info,
        )
        requests = dict(sb.stats.requests)

    try:
        # the run used every platform's credential: each platform answered and landed posts
        assert summary["errors"] == [] and summary["skipped_platforms"] == {}, summary
        assert summary["accounts"] == accounts.height == 11
        posts = lake.read("silver/posts")
        assert set(posts["platform"]) == set(accounts["platform"])
        assert sum(requests.values()) > 11

        outputs = tmp_path / "outputs"
        outputs.mkdir()
        for slug, page in DASHBOARDS.items():
            page(lake).save(str(outputs / f"{slug}.html"))
        highlights = load_highlights(lake, "week", now=NOW)
        brief = render_html(highlights, dashboard_url=settings.dashboard_url)
        (outputs / "brief.html").write_text(brief, encoding="utf-8")
        export_file(posts, outputs / "posts.csv", table="silver/posts")
        raw = lake.read("bronze/raw_responses")
        export_file(raw, outputs / "raw.parquet", table="bronze/raw_responses")
    finally:
        get_settings.cache_clear()

    assert len(list(outputs.glob("*.html"))) == len(DASHBOARDS) + 1
    assert "<html" in brief.lower()
    assert lake_leaks(lake_dir) == {}
    assert lake_leaks(outputs) == {}
    logged = io.StringIO()
    for record in caplog.records:
        logged.write(record.getMessage() + "\n")
        if record.exc_info:
            logged.write(logging.Formatter().formatException(record.exc_info) + "\n")
    assert caplog.records and found_in(logged.getvalue()) == []
    assert found_in(json.dumps(summary, default=str)) == []
