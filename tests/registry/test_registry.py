"""The shipped registry meets its contract; a malformed file names the row and the problem."""

from __future__ import annotations

import pytest

from hhs_platform.errors import RegistryError
from hhs_platform.registry import DEFAULT_REGISTRY, account_refs, load_registry


def test_shipped_registry_is_valid_and_covers_hhs() -> None:
    df = load_registry()
    assert df.height == 136
    assert {"HHS", "CDC", "FDA", "NIH", "CMS", "SAMHSA", "HRSA"} <= set(df["agency"].to_list())
    counts = dict(df.group_by("platform").len().iter_rows())
    assert counts["youtube"] == 26 and counts["bluesky"] == 15 and counts["x"] == 32
    cdc = df.filter(agency="CDC", platform="x").row(0, named=True)
    assert cdc["handle"] == "CDCgov" and cdc["parent_agency"] == "HHS" and cdc["tier"] == 1
    nci = df.filter(agency="NIH-NCI", platform="youtube").row(0, named=True)
    assert nci["parent_agency"] == "NIH" and nci["platform_id"] == "UCRVdFy0DLWhIApG8LWDzV1w"
    # every Bluesky row is a candidate, not a confirmed fact
    assert not df.filter(platform="bluesky")["verified"].any()


def test_platform_filter_and_refs() -> None:
    df = load_registry(DEFAULT_REGISTRY, platforms=["bluesky"])
    refs = account_refs(df)
    assert len(refs) == 15 and refs[0].key.startswith("bluesky:")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "agency,agency_name,platform,handle,url\nCDC,Centers,myspace,x,https://a\n",
            r"line 2 \(myspace:x\): platform",
        ),
        (
            "agency,agency_name,platform,handle,url\nCDC,Centers,x,,https://a\n",
            r"line 2 .*handle = None fails not_nullable",
        ),
        (
            "agency,agency_name,platform,handle,url\nCDC,Centers,x,a,http://a\n",
            r"url = 'http://a' fails str_startswith",
        ),
        (
            "agency,agency_name,platform,handle,url,tier\nCDC,Centers,x,a,https://a,high\n",
            r"line 2: tier 'high'",
        ),
        ("agency,platform,handle\nCDC,x,a\n", r"lacks the column\(s\) agency_name, url"),
        (
            "agency,agency_name,platform,handle,url\nCDC,Centers,x,a,https://a\nCDC,Centers,x,a,https://b\n",
            r"fails .*unique",
        ),
    ],
)
def test_malformed_registry_names_row_and_problem(tmp_path, content: str, message: str) -> None:
    path = tmp_path / "accounts.csv"
    path.write_text(content)
    with pytest.raises(RegistryError, match=message):
        load_registry(path)


def test_missing_file_says_which_setting(tmp_path) -> None:
    with pytest.raises(RegistryError, match="HHS_ACCOUNTS_FILE"):
        load_registry(tmp_path / "nope.csv")


def test_a_registry_is_checked_once_per_content_and_read_again_when_it_changes(tmp_path) -> None:
    """Every collection task loads the registry: the same file's same bytes are checked once per
    process, and a file rewritten in place (same size, same moment) gives its new rows."""
    from hhs_platform.registry.loader import _validated

    path = tmp_path / "accounts.csv"
    header = "agency,agency_name,platform,handle,url,tier\n"
    path.write_text(header + "CDC,Centers,x,CDCgov,https://x.com/CDCgov,1\n")
    before = _validated.cache_info()
    first = load_registry(path)
    again = load_registry(path, platforms=["x"])
    after = _validated.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 1)
    assert first.equals(again) and first["tier"].to_list() == [1]

    path.write_text(header + "CDC,Centers,x,CDCgov,https://x.com/CDCgov,3\n")  # same size
    changed = load_registry(path)
    assert changed["tier"].to_list() == [3]
    assert _validated.cache_info().misses - after.misses == 1
    # a caller's in-place change stays its own
    changed.insert_column(0, changed["handle"].alias("copy"))
    assert "copy" not in load_registry(path).columns

    path.write_text(header + "CDC,Centers,x,,https://x.com/CDCgov,3\n")  # a bad row, every time
    for _ in range(2):
        with pytest.raises(RegistryError, match="handle = None fails not_nullable"):
            load_registry(path)
