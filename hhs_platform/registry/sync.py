"""``hhs registry sync``: compare the registry with the U.S. Digital Registry and propose a diff.

The U.S. Digital Registry (GSA, ``HHS_USDR_API_BASE``, key ``HHS_USDR_API_KEY``) lists the
official federal accounts. A sync pages through ``/agencies``, keeps the agencies the registry
knows (by name or short name), pages through ``/social_media`` for them, maps service keys to
platform slugs, normalises handles (``@``, URLs, letter case) and compares:

- ``added``    listed by the USDR, absent from the registry;
- ``removed``  in the registry, not listed by the USDR;
- ``renamed``  the only unmatched account of an agency on a platform on both sides: the same
  account under a new handle.

The proposal is a whole registry (renames applied, additions appended as unverified, removals
dropped) for a person to review; nothing here writes the shipped registry.
"""

from __future__ import annotations

import asyncio
import difflib
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import polars as pl

from hhs_platform.connectors.base import RawResponse
from hhs_platform.errors import AuthError
from hhs_platform.http import HttpClient
from hhs_platform.registry.loader import registry_csv
from hhs_platform.settings import Settings

SOURCE = "usdr"
#: The USDR's service keys → our platform slugs; other services (apps, blogs) are skipped.
SERVICES: dict[str, str] = {
    "twitter": "x",
    "x": "x",
    "facebook": "facebook",
    "instagram": "instagram",
    "youtube": "youtube",
    "linkedin": "linkedin",
    "flickr": "flickr",
    "pinterest": "pinterest",
    "bluesky": "bluesky",
    "threads": "threads",
    "mastodon": "mastodon",
    "reddit": "reddit",
    "truth_social": "truthsocial",
    "truthsocial": "truthsocial",
}
DIFF_SCHEMA: dict[str, pl.DataType] = {
    "change": pl.Utf8(),
    "platform": pl.Utf8(),
    "agency": pl.Utf8(),
    "handle": pl.Utf8(),
    "new_handle": pl.Utf8(),
    "url": pl.Utf8(),
    "usdr_id": pl.Int64(),
}
_PAGE_SIZE = 100
_MAX_PAGES = 500
# Path segments that come before the handle in profile URLs.
_PREFIXES = {"user", "c", "channel", "company", "showcase", "school", "in", "photos", "profile"}


def _clean_name(name: str) -> str:
    name = re.sub(r"\s*\([^)]*\)\s*$", "", name)
    return re.sub(r"\s+", " ", name).strip().lower()


def handle_from_url(platform: str, url: str) -> str:
    """The handle inside a profile URL (``https://x.com/CDCgov`` → ``CDCgov``); '' if none."""
    parsed = urlparse(url if "://" in url else "https://" + url.lstrip("/"))
    parts = [unquote(p) for p in parsed.path.split("/") if p]
    if platform == "facebook" and parts[:1] == ["profile.php"]:
        return parse_qs(parsed.query).get("id", [""])[0]
    while len(parts) > 1 and parts[0].lower() in _PREFIXES:
        parts = parts[1:]
    if not parts:
        return ""
    return parts[0] if platform == "youtube" else parts[0].lstrip("@")


def normalize_handle(platform: str, account: str, service_url: str = "") -> str:
    """The registry's spelling of a USDR ``account`` value (a handle, an ``@handle`` or a URL)."""
    account = (account or "").strip()
    if not account or "/" in account or account.lower().startswith(("http", "www.")):
        return handle_from_url(platform, account or service_url)
    return account if platform == "youtube" and account.startswith("@") else account.lstrip("@")


def match_key(platform: str, handle: str) -> tuple[str, str]:
    """What two spellings of one account share: the platform and the bare lower-case handle."""
    return platform, handle.strip().lstrip("@").lower()


@dataclass
class UsdrListing:
    """What the USDR lists for the registry's agencies."""

    accounts: pl.DataFrame  # platform, handle, url, agency, usdr_id, service_key
    agencies: dict[int, str] = field(default_factory=dict)  # USDR agency id → our agency code
    skipped_services: dict[str, int] = field(default_factory=dict)


async def _pages(
    http: HttpClient, settings: Settings, path: str, params: dict[str, str | int]
) -> list[dict[str, Any]]:
    key = settings.secret("usdr_api_key")
    if not key:
        raise AuthError(
            "usdr: no API key configured; set HHS_USDR_API_KEY to an api.data.gov key "
            "(https://api.data.gov/signup/)",
            platform=SOURCE,
        )
    base = settings.usdr_api_base.rstrip("/")
    results: list[dict[str, Any]] = []
    for page in range(1, _MAX_PAGES + 1):
        _, data = await http.get_json(
            platform=SOURCE,
            endpoint=f"usdr.{path}",
            url=f"{base}/{path}",
            params={**params, "page": page, "page_size": _PAGE_SIZE, "API_KEY": key},
            account_key=f"{SOURCE}:{path}",
            page=page,
        )
        batch = data.get("results") if isinstance(data, dict) else data
        if not isinstance(batch, list) or not batch:
            break
        results.extend(r for r in batch if isinstance(r, dict))
        meta = data.get("metadata") if isinstance(data, dict) else None
        pages = meta.get("pages") if isinstance(meta, dict) else None
        if (isinstance(pages, int) and page >= pages) or len(batch) < _PAGE_SIZE:
            break
    return results


def map_agencies(agencies: list[dict[str, Any]], registry: pl.DataFrame) -> dict[int, str]:
    """USDR agency id → registry agency code, for the agencies the registry knows."""
    by_name: dict[str, str] = {}
    by_short: dict[str, str] = {}
    for code, name in registry.select("agency", "agency_name").unique().sort("agency").iter_rows():
        by_name.setdefault(_clean_name(name), code)
        by_short.setdefault(code.split("-")[-1].lower(), code)
    out: dict[int, str] = {}
    for agency in agencies:
        agency_id = agency.get("id")
        if not isinstance(agency_id, int):
            continue
        code = by_name.get(_clean_name(str(agency.get("name") or "")))
        if code is None:
            short = str(agency.get("shortname") or agency.get("acronym") or "").lower()
            code = by_short.get(short) if short else None
        if code is not None:
            out[agency_id] = code
    return out


async def fetch_usdr(registry: pl.DataFrame, settings: Settings) -> UsdrListing:
    """Page through the USDR for every agency of the registry.

    Raises:
        AuthError: no ``HHS_USDR_API_KEY``, or the key was refused.
        CollectionError: the USDR could not be read.
    """

    def discard(_raw: RawResponse) -> None:
        return None

    async with HttpClient(settings, archive=discard) as http:
        agencies = await _pages(http, settings, "agencies", {})
        mapping = map_agencies(agencies, registry)
        records: list[dict[str, Any]] = []
        if mapping:
            ids = ",".join(str(i) for i in sorted(mapping))
            records = await _pages(http, settings, "social_media", {"agencies": ids})
    rows: list[dict[str, Any]] = []
    skipped: dict[str, int] = {}
    for rec in records:
        service = str(rec.get("service_key") or "").lower()
        platform = SERVICES.get(service)
        if platform is None:
            skipped[service] = skipped.get(service, 0) + 1
            continue
        url = str(rec.get("service_url") or "")
        handle = normalize_handle(platform, str(rec.get("account") or ""), url)
        codes = [mapping[a["id"]] for a in rec.get("agencies") or [] if a.get("id") in mapping]
        if not handle or not codes:
            continue
        rows.append(
            {
                "platform": platform,
                "handle": handle,
                "url": "https://" + url.split("://", 1)[-1] if url else "",
                "agency": codes[0],
                "usdr_id": rec.get("id") if isinstance(rec.get("id"), int) else None,
                "service_key": service,
            }
        )
    schema = {
        "platform": pl.Utf8,
        "handle": pl.Utf8,
        "url": pl.Utf8,
        "agency": pl.Utf8,
        "usdr_id": pl.Int64,
        "service_key": pl.Utf8,
    }
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    frame = frame.unique(["platform", "handle"], keep="first", maintain_order=True)
    return UsdrListing(frame, mapping, skipped)


@dataclass
class SyncResult:
    """The differences found, the proposed registry and its diff against the current one."""

    diff: pl.DataFrame  # DIFF_SCHEMA
    proposed: pl.DataFrame
    text_diff: str
    listed: int = 0

    def counts(self) -> dict[str, int]:
        """Rows per change."""
        return {
            c: self.diff.filter(pl.col("change") == c).height
            for c in ("added", "removed", "renamed")
        }

    def report(self) -> str:
        """The changes as a table, then the unified diff of the CSV."""
        counts = self.counts()
        lines = [
            f"# Registry sync with the U.S. Digital Registry: {self.listed} accounts listed",
            "",
            ", ".join(f"{c} {n}" for c, n in counts.items()),
        ]
        if self.diff.height:
            lines += [
                "",
                "| change | platform | agency | handle | new handle | usdr id |",
                "|---|---|---|---|---|---|",
            ]
            for r in self.diff.iter_rows(named=True):
                cells = [
                    r["change"],
                    r["platform"],
                    r["agency"],
                    r["handle"] or "",
                    r["new_handle"] or "",
                    str(r["usdr_id"] or ""),
                ]
                lines.append("| " + " | ".join(cells) + " |")
            lines += ["", "```diff", self.text_diff.rstrip("\n"), "```"]
        return "\n".join(lines) + "\n"


def diff_registry(
    registry: pl.DataFrame,
    usdr: pl.DataFrame,
    *,
    agencies: set[str] | None = None,
    registry_name: str = "accounts.csv",
) -> SyncResult:
    """Compare the registry with a USDR listing (``UsdrListing.accounts``).

    Args:
        registry: the current registry.
        usdr: the USDR's accounts (platform, handle, url, agency, usdr_id).
        agencies: agency codes the USDR was read for; registry rows of other agencies are never
            proposed for removal (None: every agency of the registry).
        registry_name: the file name shown in the unified diff.
    """
    covered = set(registry["agency"].to_list()) if agencies is None else agencies
    names: dict[str, dict[str, Any]] = {}  # agency → its highest-tier row
    for r in registry.sort("tier").iter_rows(named=True):
        names.setdefault(r["agency"], r)
    known: dict[tuple[str, str], dict[str, Any]] = {}
    for r in registry.iter_rows(named=True):
        known[match_key(r["platform"], r["handle"])] = r
        for old in (r.get("previous_handles") or "").split("|"):
            if old:
                known.setdefault(match_key(r["platform"], old), r)
    listed = {match_key(r["platform"], r["handle"]): r for r in usdr.iter_rows(named=True)}
    matched_rows = {id(known[k]) for k in listed if k in known}
    only_registry = [
        r
        for r in registry.iter_rows(named=True)
        if r["agency"] in covered
        and id(known[match_key(r["platform"], r["handle"])]) not in matched_rows
    ]
    only_usdr = [r for k, r in listed.items() if k not in known]
    changes: list[dict[str, Any]] = []
    renames: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = {}
    groups: dict[tuple[str, str], tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
    for r in only_registry:
        groups.setdefault((r["platform"], r["agency"]), ([], []))[0].append(r)
    for r in only_usdr:
        groups.setdefault((r["platform"], r["agency"]), ([], []))[1].append(r)
    for ours, theirs in groups.values():
        if len(ours) == 1 and len(theirs) == 1:
            renames[(ours[0]["platform"], ours[0]["handle"])] = (ours[0], theirs[0])
            changes.append(_change("renamed", ours[0], theirs[0]))
            continue
        changes += [_change("removed", r, None) for r in ours]
        changes += [_change("added", None, r) for r in theirs]
    order = {"renamed": 0, "added": 1, "removed": 2}
    changes.sort(
        key=lambda c: (
            order[c["change"]],
            c["platform"],
            c["agency"],
            c["handle"] or c["new_handle"],
        )
    )
    diff = pl.DataFrame(changes, schema=DIFF_SCHEMA, orient="row")

    removed = {(c["platform"], c["handle"]) for c in changes if c["change"] == "removed"}
    proposed_rows: list[dict[str, Any]] = []
    for r in registry.iter_rows(named=True):
        if (r["platform"], r["handle"]) in removed:
            continue
        pair = renames.get((r["platform"], r["handle"]))
        if pair is not None:
            new = pair[1]
            previous = [h for h in (r["previous_handles"] or "").split("|") if h]
            r = {
                **r,
                "handle": new["handle"],
                "previous_handles": "|".join([*previous, r["handle"]]),
                "url": new["url"] or r["url"],
            }
        proposed_rows.append(r)
    for c in changes:
        if c["change"] != "added":
            continue
        peer = names[c["agency"]]
        handle = c["new_handle"]
        uc = c["platform"] == "youtube" and re.fullmatch(r"UC[\w-]{22}", handle)
        proposed_rows.append(
            {
                "agency": c["agency"],
                "agency_name": peer["agency_name"],
                "parent_agency": peer["parent_agency"],
                "platform": c["platform"],
                "handle": handle,
                "platform_id": handle if uc else None,
                "previous_handles": None,
                "url": c["url"],
                "tier": peer["tier"],
                "verified": False,
                "source": f"USDR social_media/{c['usdr_id']} (GSA U.S. Digital Registry, via "
                "`hhs registry sync`); to confirm with `hhs registry check`",
            }
        )
    proposed = pl.DataFrame(proposed_rows, schema=registry.schema, orient="row")
    text = "".join(
        difflib.unified_diff(
            registry_csv(registry).splitlines(keepends=True),
            registry_csv(proposed).splitlines(keepends=True),
            fromfile=f"a/{registry_name}",
            tofile=f"b/{registry_name} (proposed)",
        )
    )
    return SyncResult(diff, proposed, text, usdr.height)


def _change(
    kind: str, ours: dict[str, Any] | None, theirs: dict[str, Any] | None
) -> dict[str, Any]:
    base = ours or theirs or {}
    return {
        "change": kind,
        "platform": base["platform"],
        "agency": base["agency"],
        "handle": ours["handle"] if ours else None,
        "new_handle": theirs["handle"] if theirs else None,
        "url": (theirs or ours or {}).get("url"),
        "usdr_id": theirs.get("usdr_id") if theirs else None,
    }


def sync_registry(
    registry: pl.DataFrame, settings: Settings, *, registry_name: str = "accounts.csv"
) -> SyncResult:
    """Read the USDR for the registry's agencies and compare (see ``diff_registry``).

    Raises:
        HhsError: the USDR could not be read (missing key, refused, unreachable).
    """
    listing = asyncio.run(fetch_usdr(registry, settings))
    return diff_registry(
        registry,
        listing.accounts,
        agencies=set(listing.agencies.values()),
        registry_name=registry_name,
    )
