"""The data inventory: every column of every lake table, what kind of personal data it holds.

Generated from ``schemas/`` (the catalogue and the models' column metadata), so it cannot drift
from the tables. A column's category:

- ``third-party``: may hold data about people who are not registry accounts (post text naming
  them, mentions, raw responses); marked ``metadata={"personal": "third-party"}`` in the model.
- ``official``: identifies or describes an official account (its id, handle, name); public-role
  data of an agency, which can name an official person (e.g. the Surgeon General).
- ``workforce``: names the staff or service accounts that operated the platform (the audit
  trail); kept as accountability records, not collected about the public.
- ``none``: figures, lineage and pipeline data about no person.

Each table also gets its purpose (by layer), its retention (``HHS_RETENTION_DAYS``) and how a
deletion request reaches it (``hhs forget``, ``hhs privacy forget-person``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from schemas import CATALOGUE, TableSpec

CATEGORIES: dict[str, str] = {
    "third-party": "Third-party personal data",
    "official": "Official-account data",
    "workforce": "Workforce data",
    "none": "No personal data",
}
#: Columns that name or describe an official account (when the model marks nothing else).
OFFICIAL_COLUMNS = frozenset(
    {
        "account_id",
        "account_key",
        "handle",
        "display_name",
        "description",
        "account_created_at",
        "entity",
        "entity_id",
        "previous_handles",
    }
)
PURPOSES: dict[str, str] = {
    "bronze": "Raw archive of what the platforms served: rebuild silver (`hhs replay`), audit.",
    "silver": "Cleaned public posts and figures of the official accounts, for analysis.",
    "quarantine": "Rows rejected by the data contracts, kept for diagnosis.",
    "quality": "Data-quality evidence: drift, metric sources, flags, scorecards.",
    "gold": "Aggregated figures for dashboards, briefs and the API.",
    "analytics": "Anomalies and forecasts computed from gold.",
    "ops": "Operation of the platform: SLOs, alerts, probes, the audit trail and deletion audit.",
}
#: Tables ``forget_person`` rewrites (the person's handle removed) or deletes from.
_REWRITTEN = ("silver/posts", "silver/post_features")
_DELETED_FOR_PERSON = ("bronze/raw_responses", "quarantine/rows")


@dataclass(frozen=True)
class InventoryColumn:
    """One column of one table, classified."""

    table: str
    column: str
    dtype: str
    category: str
    meaning: str


@dataclass(frozen=True)
class InventoryTable:
    """One table: purpose, retention, deletion path and its columns."""

    table: str
    layer: str
    purpose: str
    retention: str
    deletion: str
    columns: tuple[InventoryColumn, ...]


def category(spec: TableSpec, column: str) -> str:
    """The category of one column: its model metadata, else by name."""
    col = spec.model.to_schema().columns[column]
    marked = (col.metadata or {}).get("personal")
    if marked:
        if marked not in CATEGORIES:
            raise ValueError(f"{spec.name}.{column}: unknown personal-data category {marked!r}")
        return str(marked)
    return "official" if column in OFFICIAL_COLUMNS else "none"


def _deletion(spec: TableSpec) -> str:
    from hhs_platform.lake.privacy import _SKIP, Subject, _where

    if spec.name in _SKIP:
        return (
            "Never deleted by a request: the audit trail (deletion subjects only as a hash; "
            "staff named as operators). Retention applies when HHS_RETENTION_DAYS names it."
        )
    probe = Subject("x", "probe", ("probe",), ("x:probe",), ("probe",))
    ways = []
    if _where(spec, probe, ["post"], ["response"]) is not None:
        ways.append("`hhs forget` deletes an account's rows")
    elif spec.layer in ("gold", "analytics"):
        ways.append("`hhs forget` rebuilds it without the account")
    if spec.name in _REWRITTEN:
        ways.append("`hhs privacy forget-person` removes a third party's handle")
    if spec.name in _DELETED_FOR_PERSON:
        ways.append("`hhs privacy forget-person` deletes the rows naming a third party")
    return "; ".join(ways) + "." if ways else "Holds no personal data."


def inventory(retention_days: Mapping[str, int] | None = None) -> list[InventoryTable]:
    """Every catalogue table with its classified columns.

    Args:
        retention_days: ``HHS_RETENTION_DAYS`` (default: the settings' default policy).
    """
    if retention_days is None:
        from hhs_platform.settings import Settings

        retention_days = Settings.model_fields["retention_days"].get_default(
            call_default_factory=True
        )
    assert retention_days is not None
    out = []
    for spec in CATALOGUE.values():
        schema = spec.model.to_schema()
        days = retention_days.get(spec.name)
        cols = tuple(
            InventoryColumn(
                spec.name, name, str(col.dtype), category(spec, name), col.description or ""
            )
            for name, col in schema.columns.items()
        )
        out.append(
            InventoryTable(
                spec.name,
                spec.layer,
                PURPOSES.get(spec.layer, ""),
                f"{days} days" if days is not None else "until deleted",
                _deletion(spec),
                cols,
            )
        )
    return out


def inventory_markdown(retention_days: Mapping[str, int] | None = None) -> str:
    """The inventory as a Markdown page (docs/privacy-inventory.md)."""
    from hhs_platform.docgen import HEADER

    tables = inventory(retention_days)
    counts = {c: 0 for c in CATEGORIES}
    for t in tables:
        for c in t.columns:
            counts[c.category] += 1
    out = [
        HEADER,
        "# Data inventory",
        "",
        "Every column of every lake table and the kind of personal data it holds, generated from "
        "`schemas/` (see [Privacy](privacy.md) for the policy). Retention is the default "
        "`HHS_RETENTION_DAYS`; `hhs privacy inventory` prints the inventory with the settings "
        "in force.",
        "",
        "| category | meaning | columns |",
        "|---|---|---|",
        f"| `third-party` | {CATEGORIES['third-party']}: may name people who are not registry "
        f"accounts | {counts['third-party']} |",
        f"| `official` | {CATEGORIES['official']}: identifies or describes an official account "
        f"| {counts['official']} |",
        f"| `workforce` | {CATEGORIES['workforce']}: names staff or service accounts that ran "
        f"the platform (audit trail) | {counts['workforce']} |",
        f"| `none` | {CATEGORIES['none']}: figures, lineage, pipeline data | {counts['none']} |",
        "",
    ]
    for t in tables:
        personal = [c for c in t.columns if c.category != "none"]
        out += [
            f"## `{t.table}`",
            "",
            f"- purpose: {t.purpose}",
            f"- retention: {t.retention}",
            f"- deletion: {t.deletion}",
            "",
        ]
        if personal:
            out += ["| column | category | meaning |", "|---|---|---|"]
            for c in personal:
                meaning = " ".join(c.meaning.split()).replace("|", "\\|")
                out.append(f"| `{c.column}` | {c.category} | {meaning} |")
            out.append("")
        others = [c.column for c in t.columns if c.category == "none"]
        if others:
            out += ["No personal data: " + ", ".join(f"`{c}`" for c in others) + ".", ""]
    return "\n".join(out)


__all__ = [
    "CATEGORIES",
    "InventoryColumn",
    "InventoryTable",
    "category",
    "inventory",
    "inventory_markdown",
]
