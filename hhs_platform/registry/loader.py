"""Read the registry CSV and check it with the ``schemas.Registry`` contract, naming bad rows."""

from __future__ import annotations

import csv
import functools
import io
import logging
from pathlib import Path

import pandera.errors
import polars as pl

from hhs_platform.connectors.base import AccountRef
from hhs_platform.errors import RegistryError
from schemas import Registry

log = logging.getLogger(__name__)

DEFAULT_REGISTRY = Path(__file__).with_name("accounts.csv")
_SCHEMA = {
    "agency": pl.Utf8,
    "agency_name": pl.Utf8,
    "parent_agency": pl.Utf8,
    "platform": pl.Utf8,
    "handle": pl.Utf8,
    "platform_id": pl.Utf8,
    "previous_handles": pl.Utf8,
    "url": pl.Utf8,
    "tier": pl.Utf8,
    "verified": pl.Utf8,
    "source": pl.Utf8,
}
#: Column order of a registry file, as written by ``registry_csv`` and tools/build_registry.py.
COLUMNS = list(_SCHEMA)
_REQUIRED = ["agency", "agency_name", "platform", "handle", "url"]


def load_registry(
    path: str | Path | None = None, platforms: list[str] | None = None
) -> pl.DataFrame:
    """Load and validate the registry.

    Args:
        path: a registry CSV; None means the shipped one.
        platforms: keep only these platform slugs.

    Raises:
        RegistryError: the file is missing, unreadable, or a row breaks the contract; the message
            names the file, the line and the problem.
    """
    path = Path(path) if path else DEFAULT_REGISTRY
    if not path.is_file():
        raise RegistryError(f"registry file {path} does not exist (set HHS_ACCOUNTS_FILE to a CSV)")
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise RegistryError(f"registry file {path} is not a readable CSV: {exc}") from exc
    df = _validated(str(path), content).clone()
    if platforms:
        unknown = sorted(set(platforms) - set(df["platform"].unique().to_list()))
        df = df.filter(pl.col("platform").is_in(platforms))
        if df.is_empty():
            raise RegistryError(
                f"registry file {path} has no accounts on {', '.join(platforms)}"
                + (f" (no rows at all for {', '.join(unknown)})" if unknown else "")
            )
    return df


@functools.lru_cache(maxsize=8)
def _validated(path: str, content: bytes) -> pl.DataFrame:
    """The registry in file ``path`` holding ``content``, checked against its contract.

    Kept per process for the same file and bytes: every collection task loads the registry, and
    its check took about 20 ms a load of 3,000 accounts (2.7 s of a 10× run's 132 tasks). A
    changed file is a new key, so it is read and checked again.
    """
    try:
        raw = pl.read_csv(io.BytesIO(content), schema_overrides=_SCHEMA, infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        raise RegistryError(f"registry file {path} is not a readable CSV: {exc}") from exc
    missing = [c for c in _REQUIRED if c not in raw.columns]
    if missing:
        raise RegistryError(
            f"registry file {path} lacks the column(s) {', '.join(missing)}; "
            f"expected a header with {', '.join(_SCHEMA)}"
        )
    for col in _SCHEMA:
        if col not in raw.columns:
            raw = raw.with_columns(pl.lit(None, pl.Utf8).alias(col))
    raw = raw.select(list(_SCHEMA)).with_columns(
        pl.col(pl.Utf8).str.strip_chars(),
    )
    problems: list[str] = []
    tier = raw["tier"].fill_null("2")
    bad_tier = ~tier.str.contains(r"^\d+$")
    for i in bad_tier.arg_true().to_list():
        problems.append(f"line {i + 2}: tier {raw['tier'][i]!r} is not a whole number (1, 2 or 3)")
    verified = raw["verified"].fill_null("false").str.to_lowercase()
    bad_ver = ~verified.is_in(["true", "false", "1", "0", "yes", "no"])
    for i in bad_ver.arg_true().to_list():
        problems.append(f"line {i + 2}: verified {raw['verified'][i]!r} is not true/false")
    if problems:
        raise RegistryError(f"registry file {path} has bad rows:\n  " + "\n  ".join(problems))
    df = raw.with_columns(
        platform=pl.col("platform").str.to_lowercase(),
        parent_agency=pl.when(pl.col("parent_agency") == "")
        .then(None)
        .otherwise(pl.col("parent_agency")),
        platform_id=pl.when(pl.col("platform_id") == "")
        .then(None)
        .otherwise(pl.col("platform_id")),
        previous_handles=pl.when(pl.col("previous_handles") == "")
        .then(None)
        .otherwise(pl.col("previous_handles")),
        tier=tier.cast(pl.Int64),
        verified=verified.is_in(["true", "1", "yes"]),
        source=pl.col("source").fill_null(""),
    )
    try:
        Registry.validate(df, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        raise RegistryError(_describe(Path(path), df, exc)) from None
    return df


def _describe(path: Path, df: pl.DataFrame, exc: pandera.errors.SchemaErrors) -> str:
    lines = []
    fc = exc.failure_cases
    for rec in fc.head(20).iter_rows(named=True):
        idx = rec.get("index")
        where = f"line {int(idx) + 2}" if idx is not None else "file"
        what = rec.get("column") or "row"
        handle = (
            f" ({df['platform'][int(idx)]}:{df['handle'][int(idx)]})" if idx is not None else ""
        )
        lines.append(
            f"{where}{handle}: {what} = {rec.get('failure_case')!r} fails {rec.get('check')}"
        )
    more = f"\n  ... and {fc.height - 20} more" if fc.height > 20 else ""
    return f"registry file {path} has bad rows:\n  " + "\n  ".join(lines) + more


def official_only(registry: pl.DataFrame, allow_unverified: bool) -> pl.DataFrame:
    """The rows collection may use: all of them, or only ``verified`` ones (the others logged).

    With ``allow_unverified`` false (``HHS_ALLOW_UNVERIFIED_ACCOUNTS=false``) a row whose
    handle no official source confirmed yet is skipped; ``hhs registry check`` and ``sync``
    confirm candidates.
    """
    if allow_unverified:
        return registry
    skipped = registry.filter(~pl.col("verified"))
    if not skipped.is_empty():
        keys = [f"{p}:{h}" for p, h in skipped.select("platform", "handle").iter_rows()]
        log.warning(
            "%d unverified registry account(s) not collected (HHS_ALLOW_UNVERIFIED_ACCOUNTS is "
            "false): %s",
            len(keys),
            ", ".join(keys),
        )
    return registry.filter(pl.col("verified"))


def account_refs(registry: pl.DataFrame) -> list[AccountRef]:
    """The connector-facing view of registry rows."""
    return [
        AccountRef(platform=r["platform"], handle=r["handle"], platform_id=r["platform_id"])
        for r in registry.select("platform", "handle", "platform_id").iter_rows(named=True)
    ]


def registry_csv(registry: pl.DataFrame) -> str:
    """The registry as CSV text in the shipped file's layout (so a write shows a minimal diff)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in registry.iter_rows(named=True):
        out: dict[str, str] = {}
        for col in COLUMNS:
            value = row.get(col)
            if isinstance(value, bool):
                out[col] = "true" if value else "false"
            else:
                out[col] = "" if value is None else str(value)
        writer.writerow(out)
    return buf.getvalue()


def write_registry(registry: pl.DataFrame, path: str | Path) -> Path:
    """Check ``registry`` against its contract, then write it as a registry CSV at ``path``.

    Raises:
        RegistryError: a row breaks the contract (nothing is written).
    """
    path = Path(path)
    try:
        Registry.validate(registry.select(COLUMNS), lazy=True)
    except pandera.errors.SchemaErrors as exc:
        raise RegistryError(_describe(path, registry, exc)) from None
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(registry_csv(registry), encoding="utf-8")
    tmp.replace(path)  # atomic: a reader never sees half a registry
    return path
