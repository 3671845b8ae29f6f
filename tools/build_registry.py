"""Rebuild hhs_platform/registry/accounts.csv from the reference facts in ../shared/reference/.

Run from the project root: python tools/build_registry.py [../shared/reference/hhs_accounts.csv]
Bluesky rows are candidates (the agency's own domain as handle), marked verified=false.
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

PLATFORM = {
    "X": "x",
    "Facebook": "facebook",
    "Instagram": "instagram",
    "YouTube": "youtube",
    "LinkedIn": "linkedin",
    "Flickr": "flickr",
    "Pinterest": "pinterest",
}
TIER1 = {"HHS", "CDC", "FDA", "NIH", "CMS"}
OPDIVS = {"CDC", "FDA", "NIH", "CMS", "SAMHSA", "HRSA", "ACF", "ACL", "AHRQ", "IHS"}
BLUESKY_CANDIDATES = {
    "HHS": "hhs.gov",
    "CDC": "cdc.gov",
    "FDA": "fda.gov",
    "NIH": "nih.gov",
    "CMS": "cms.gov",
    "SAMHSA": "samhsa.gov",
    "HRSA": "hrsa.gov",
    "ACL": "acl.gov",
    "AHRQ": "ahrq.gov",
    "IHS": "ihs.gov",
    "NIH-NIMH": "nimh.nih.gov",
    "NIH-NIAID": "niaid.nih.gov",
    "NIH-NIA": "nia.nih.gov",
    "NIH-NIDA": "nida.nih.gov",
    "NIH-NCI": "cancer.gov",
}
FIELDS = [
    "agency",
    "agency_name",
    "parent_agency",
    "platform",
    "handle",
    "platform_id",
    "previous_handles",
    "url",
    "tier",
    "verified",
    "source",
]


def parent(code: str) -> str:
    if code == "HHS":
        return ""
    if "-" in code:
        head = code.split("-", 1)[0]
        return head if head in OPDIVS or head == "HHS" else "HHS"
    return "HHS"


def tier(code: str) -> int:
    if code in TIER1:
        return 1
    return 2 if code in OPDIVS else 3


def platform_id(platform: str, handle: str) -> str:
    if platform == "youtube" and re.fullmatch(r"UC[\w-]{22}", handle):
        return handle
    if platform == "facebook" and handle.isdigit():
        return handle
    if platform == "flickr" and "@N" in handle:
        return handle
    return ""


def main() -> None:
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/reference/hhs_accounts.csv")
    rows = list(csv.DictReader(src.open(encoding="utf-8")))
    names = {r["agency"]: r["agency_name"] for r in rows}
    out = []
    for r in rows:
        p = PLATFORM[r["platform"]]
        out.append(
            {
                "agency": r["agency"],
                "agency_name": r["agency_name"],
                "parent_agency": parent(r["agency"]),
                "platform": p,
                "handle": r["handle"],
                "platform_id": platform_id(p, r["handle"]),
                "previous_handles": "",
                "url": r["url"],
                "tier": tier(r["agency"]),
                "verified": "false" if r["source"].startswith("UNVERIFIED") else "true",
                "source": r["source"],
            }
        )
    for code, domain in BLUESKY_CANDIDATES.items():
        out.append(
            {
                "agency": code,
                "agency_name": names[code],
                "parent_agency": parent(code),
                "platform": "bluesky",
                "handle": domain,
                "platform_id": "",
                "previous_handles": "",
                "url": f"https://bsky.app/profile/{domain}",
                "tier": tier(code),
                "verified": "false",
                "source": "CANDIDATE: the agency's own web domain as its Bluesky handle "
                "(a domain handle proves control of the domain); to confirm with `hhs registry check`",
            }
        )
    dest = Path("hhs_platform/registry/accounts.csv")
    with dest.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, FIELDS)
        w.writeheader()
        w.writerows(out)
    print(f"wrote {len(out)} accounts to {dest}")


if __name__ == "__main__":
    main()
