"""`hhs registry sync` against the simulated U.S. Digital Registry: exactly the planted changes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from hhs_platform.errors import AuthError
from hhs_platform.registry import load_registry
from hhs_platform.registry.sync import handle_from_url, normalize_handle, sync_registry
from hhs_platform.sandbox import SandboxThread
from hhs_platform.sandbox.usdr import PLANTED
from hhs_platform.settings import Settings

KEY = "usdr-test-key-41c2"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(accounts=load_registry(), seed=5, history_days=1, future_days=1) as sb:
        yield sb


def _settings(sb: SandboxThread, key: str | None = KEY) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, usdr_api_base=sb.url("usdr") + "/api/v1", usdr_api_key=key
    )


def test_sync_finds_exactly_the_planted_differences(sandbox: SandboxThread) -> None:
    registry = load_registry()
    result = sync_registry(registry, _settings(sandbox))
    diff = {
        (r["change"], r["platform"], r["agency"], r["handle"], r["new_handle"])
        for r in result.diff.iter_rows(named=True)
    }
    (old_platform, old_handle), new_handle = PLANTED.renamed
    code, platform, handle, _url = PLANTED.extra
    assert diff == {
        ("renamed", old_platform, "AHRQ", old_handle, new_handle),
        ("added", platform, code, None, handle),
        ("removed", PLANTED.missing[0], "FDA-OWH", PLANTED.missing[1], None),
    }
    assert result.counts() == {"added": 1, "removed": 1, "renamed": 1}
    # the proposal: one row out, one in, the rename applied with the old handle kept
    proposed = result.proposed
    assert proposed.height == registry.height
    renamed = proposed.filter(platform="x", agency="AHRQ").row(0, named=True)
    assert renamed["handle"] == "AHRQgov" and renamed["previous_handles"] == "ahrqnews"
    added = proposed.filter(platform="threads").row(0, named=True)
    assert added["agency"] == "CDC" and added["verified"] is False and "USDR" in added["source"]
    text = result.text_diff
    assert text.startswith("--- a/accounts.csv")
    assert sum(1 for line in text.splitlines() if line.startswith(("+C", "+A", "-A", "-F"))) == 4
    assert "-FDA-OWH,FDA Office of Women's Health,FDA,x,FDAWomen" in text
    report = result.report()
    assert "added 1, removed 1, renamed 1" in report and "```diff" in report


def test_a_synced_proposal_is_clean_on_a_second_sync(sandbox: SandboxThread) -> None:
    first = sync_registry(load_registry(), _settings(sandbox))
    again = sync_registry(first.proposed, _settings(sandbox))
    assert again.diff.height == 0 and again.text_diff == ""


def test_the_registry_api_wants_a_key(sandbox: SandboxThread) -> None:
    with pytest.raises(AuthError, match="HHS_USDR_API_KEY"):
        sync_registry(load_registry(), _settings(sandbox, key=None))
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(sandbox.url("usdr") + "/api/v1/agencies", timeout=10)
    assert info.value.code == 403
    url = sandbox.url("usdr") + "/api/v1/agencies?q=national%20institutes&API_KEY=x"
    body = json.loads(urllib.request.urlopen(url, timeout=10).read())
    assert [a["name"] for a in body["results"]] == ["National Institutes of Health"]
    assert body["metadata"]["count"] == 1


@pytest.mark.parametrize(
    ("platform", "account", "url", "handle"),
    [
        ("x", "@CDCgov", "", "CDCgov"),
        ("x", "https://twitter.com/CDCgov", "", "CDCgov"),
        ("x", "", "https://x.com/HHSgov", "HHSgov"),
        ("youtube", "https://www.youtube.com/user/USGOVHHS", "", "USGOVHHS"),
        ("youtube", "@cdc", "", "@cdc"),
        ("linkedin", "", "https://www.linkedin.com/company/hrsagov/", "hrsagov"),
        ("flickr", "https://www.flickr.com/photos/54244393@N02/", "", "54244393@N02"),
        ("threads", "https://www.threads.net/@cdcgov", "", "cdcgov"),
        ("facebook", "https://www.facebook.com/profile.php?id=123", "", "123"),
    ],
)
def test_handles_are_normalised(platform: str, account: str, url: str, handle: str) -> None:
    assert normalize_handle(platform, account, url) == handle
    if url:
        assert handle_from_url(platform, url) == handle
