"""``hhs registry check``: resolve every registry handle on its platform and say what changed.

Each account is looked up through its connector's ``resolve`` (one profile request, by platform
id when the registry knows it, so a renamed account is still found). The result says, per row:

- ``unchanged``    the platform id is known and the handle is still current;
- ``id_learned``   found, and the registry did not know its platform id yet;
- ``renamed``      found by id, under another handle now (the id stays the key);
- ``not_found``    no such account (never existed, deleted, or renamed before its id was known);
- ``suspended``    the platform took it down;
- ``error``        the lookup failed (credentials, quota, network, or an id mismatch);
- ``unsupported``  no connector for the platform can resolve handles yet.

``apply_check`` turns the findings into registry edits: learned ids, and renamed handles with
the old one kept in ``previous_handles``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass

import polars as pl

from hhs_platform.connectors import CONNECTORS
from hhs_platform.connectors.base import AccountRef, Connector, RawResponse, ResolvedAccount
from hhs_platform.errors import HhsError
from hhs_platform.http import HttpClient
from hhs_platform.settings import Settings

CHANGES = (
    "renamed",
    "id_learned",
    "not_found",
    "suspended",
    "error",
    "unsupported",
    "unchanged",
)
CHECK_SCHEMA: dict[str, pl.DataType] = {
    "platform": pl.Utf8(),
    "agency": pl.Utf8(),
    "handle": pl.Utf8(),
    "platform_id": pl.Utf8(),
    "status": pl.Utf8(),
    "account_id": pl.Utf8(),
    "current_handle": pl.Utf8(),
    "display_name": pl.Utf8(),
    "verified": pl.Boolean(),
    "change": pl.Utf8(),
    "detail": pl.Utf8(),
}


def can_resolve(platform: str) -> bool:
    """Whether a connector exists for ``platform`` and implements ``resolve``."""
    cls = CONNECTORS.get(platform)
    return cls is not None and cls.resolve is not Connector.resolve


async def resolve_accounts(accounts: list[AccountRef], settings: Settings) -> list[ResolvedAccount]:
    """Resolve every account concurrently over one HTTP session, in the order given.

    Never raises for one account: failures come back as ``status="error"``, platforms without
    a resolving connector as ``status="unsupported"``.
    """

    def discard(_raw: RawResponse) -> None:  # a check is not a collection: nothing is archived
        return None

    async with HttpClient(settings, archive=discard) as http:
        connectors = {
            p: CONNECTORS[p](http, settings)
            for p in {a.platform for a in accounts}
            if can_resolve(p)
        }

        async def one(account: AccountRef) -> ResolvedAccount:
            connector = connectors.get(account.platform)
            if connector is None:
                return ResolvedAccount(
                    account.platform,
                    account.handle,
                    "unsupported",
                    detail=f"no {account.platform} connector resolves handles yet",
                )
            try:
                return await connector.resolve(account)
            except HhsError as exc:
                return ResolvedAccount(
                    account.platform, account.handle, "error", detail=f"{type(exc).__name__}: {exc}"
                )

        return list(await asyncio.gather(*(one(a) for a in accounts)))


def _bare(handle: str) -> str:
    return handle.strip().lstrip("@").lower()


def is_rename(platform: str, handle: str, current: str | None) -> bool:
    """Whether the platform's current handle differs from the registry's (case and ``@`` aside).

    A YouTube registry handle that is a channel id or a legacy user name is not an @handle, so
    its channel's ``customUrl`` says nothing about a rename.
    """
    if not current:
        return False
    if platform == "youtube" and not handle.strip().startswith("@"):
        return False
    return _bare(handle) != _bare(current)


def classify(platform_id: str | None, resolved: ResolvedAccount) -> tuple[str, str]:
    """The ``change`` of one registry row given what its platform said, and a detail text."""
    if resolved.status != "active":
        return resolved.status, resolved.detail
    if platform_id and resolved.account_id and resolved.account_id != platform_id:
        return "error", (
            f"the platform answered with id {resolved.account_id}, "
            f"the registry has {platform_id}; check the row by hand"
        )
    if is_rename(resolved.platform, resolved.handle, resolved.current_handle):
        return "renamed", f"{resolved.handle} is now {resolved.current_handle}"
    if not platform_id:
        return "id_learned", ""
    return "unchanged", ""


@dataclass
class CheckResult:
    """What ``check_registry`` found: one row per registry account (``CHECK_SCHEMA``)."""

    frame: pl.DataFrame

    def counts(self) -> dict[str, int]:
        """Accounts per change, every change listed."""
        found = Counter(self.frame["change"].to_list())
        return {c: found.get(c, 0) for c in CHANGES}

    def report(self) -> str:
        """A markdown report: the counts, then every row that is not unchanged or unsupported."""
        counts = self.counts()
        lines = [
            f"# Registry check: {self.frame.height} accounts",
            "",
            ", ".join(f"{c} {n}" for c, n in counts.items()),
        ]
        unsupported = self.frame.filter(pl.col("change") == "unsupported")
        if unsupported.height:
            per = unsupported.group_by("platform").len().sort("platform").iter_rows()
            lines += [
                "",
                "Not checked (no resolving connector): " + ", ".join(f"{p} {n}" for p, n in per),
            ]
        notable = self.frame.filter(~pl.col("change").is_in(["unchanged", "unsupported"]))
        if notable.height:
            lines += [
                "",
                "| change | platform | handle | account_id | current_handle | display_name | detail |",
                "|---|---|---|---|---|---|---|",
            ]
            order = {c: i for i, c in enumerate(CHANGES)}
            rows = sorted(
                notable.iter_rows(named=True),
                key=lambda r: (order[r["change"]], r["platform"], r["handle"]),
            )
            for r in rows:
                cells = [
                    r["change"],
                    r["platform"],
                    r["handle"],
                    r["account_id"] or "",
                    r["current_handle"] or "",
                    r["display_name"] or "",
                    (r["detail"] or "")[:160],
                ]
                lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        return "\n".join(lines) + "\n"


def check_registry(registry: pl.DataFrame, settings: Settings) -> CheckResult:
    """Resolve every row of ``registry`` on its platform and classify what changed."""
    rows = registry.select("platform", "agency", "handle", "platform_id").to_dicts()
    refs = [AccountRef(r["platform"], r["handle"], r["platform_id"]) for r in rows]
    resolved = asyncio.run(resolve_accounts(refs, settings))
    out = []
    for row, res in zip(rows, resolved, strict=True):
        change, detail = classify(row["platform_id"], res)
        out.append(
            {
                **row,
                "status": res.status,
                "account_id": res.account_id,
                "current_handle": res.current_handle,
                "display_name": res.display_name,
                "verified": res.verified,
                "change": change,
                "detail": detail,
            }
        )
    return CheckResult(pl.DataFrame(out, schema=CHECK_SCHEMA, orient="row"))


def renamed_handle(old: str, current: str) -> str:
    """The registry spelling of a new handle: ``@`` kept where the registry used it."""
    bare = current.strip().lstrip("@")
    return "@" + bare if old.strip().startswith("@") else bare


def apply_check(registry: pl.DataFrame, result: CheckResult) -> tuple[pl.DataFrame, list[str]]:
    """The registry with the check's findings applied, and notes on what was left alone.

    Learned ids fill ``platform_id``; a rename moves the handle (and the handle inside the URL)
    and appends the old handle to ``previous_handles``. Nothing is removed: not-found and
    suspended accounts are for a person to retire.
    """
    found = {
        (r["platform"], r["handle"]): r
        for r in result.frame.filter(
            pl.col("change").is_in(["id_learned", "renamed", "unchanged"])
        ).iter_rows(named=True)
    }
    taken = {(p, _bare(h)) for p, h in registry.select("platform", "handle").iter_rows()}
    notes: list[str] = []
    rows = []
    for row in registry.iter_rows(named=True):
        hit = found.get((row["platform"], row["handle"]))
        if hit is not None:
            row = {**row, "platform_id": hit["account_id"]}
            if hit["change"] == "renamed":
                new = renamed_handle(row["handle"], hit["current_handle"])
                if (row["platform"], _bare(new)) in taken:
                    notes.append(
                        f"{row['platform']}:{row['handle']} is now {new}, which another row "
                        "already holds; merge the two rows by hand"
                    )
                else:
                    old = row["handle"]
                    taken.add((row["platform"], _bare(new)))
                    previous = [h for h in (row["previous_handles"] or "").split("|") if h]
                    row["previous_handles"] = "|".join([*previous, old])
                    row["handle"] = new
                    bare_old, bare_new = old.lstrip("@"), new.lstrip("@")
                    if bare_old in row["url"]:
                        row["url"] = row["url"].replace(bare_old, bare_new)
                    else:
                        notes.append(f"{row['platform']}:{new}: check the url {row['url']}")
        rows.append(row)
    return pl.DataFrame(rows, schema=registry.schema, orient="row"), notes
