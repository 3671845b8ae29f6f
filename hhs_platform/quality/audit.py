"""The quality audit (``hhs quality audit``): the lake against the simulated platforms' ground truth.

Per platform: recall, duplicates and the exact-match rate of every post counter and account
figure (:func:`hhs_platform.quality.accuracy.compare_with_truth`), plus the quarantine's rows by
reason class, printed as tables or as JSON. The truth comes from a running sandbox
(``/_sandbox/truth``) or from a file written by :func:`hhs_platform.sandbox.truth_to_json`
(``hhs demo`` saves the truth it served to ``.hhs/truth.json``).
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from hhs_platform.errors import ConfigurationError
from hhs_platform.lake.store import Lake
from hhs_platform.quality.accuracy import ACCOUNT_FIGURES, METRICS, compare_with_truth

#: Where ``hhs demo`` saves the truth it served, and ``hhs quality audit`` looks by default.
DEFAULT_TRUTH_FILE = Path(".hhs") / "truth.json"
#: The fields whose accuracy the audit reports, in column order.
FIELDS = (*METRICS, *ACCOUNT_FIGURES)
#: Quarantine reasons by class, first match wins: (class, pattern searched in the reason).
REASON_CLASSES: tuple[tuple[str, str], ...] = (
    ("truncated_body", r"not valid JSON|empty body"),
    ("null_id", r"skipped: .*without '[^']*(id|uri|name)[^']*'"),
    ("bad_timestamp", r"skipped: .*without a valid"),
    ("wrong_type", r"not a count|expected an object|, not an object| is \w+, not"),
    ("skipped_item", r"skipped:"),
    ("parser_error", r"parser (failed|crashed)|no parser for|no connector for"),
    ("contract", r"^\w+: "),
)


@dataclass
class AuditReport:
    """The audit of one lake: ``platforms`` rows (``compare_with_truth`` plus ``stored_posts``
    and ``duplicate_rate``) and ``quarantine`` counts per platform and reason class."""

    platforms: list[dict[str, Any]]
    quarantine: dict[str, dict[str, int]] = field(default_factory=dict)

    def worst_accuracy(self, row: Mapping[str, Any]) -> float:
        """The lowest field accuracy of one platform row."""
        return min((float(row[f"{f}_accuracy"]) for f in FIELDS), default=1.0)

    def totals(self) -> dict[str, Any]:
        """All platforms together: posts expected/found, recall, duplicates, lowest accuracy."""
        expected = sum(r["posts_expected"] for r in self.platforms)
        found = sum(r["posts_found"] for r in self.platforms)
        return {
            "posts_expected": expected,
            "posts_found": found,
            "posts_extra": sum(r["posts_extra"] for r in self.platforms),
            "duplicate_keys": sum(r["duplicate_keys"] for r in self.platforms),
            "stored_posts": sum(r.get("stored_posts", 0) for r in self.platforms),
            "recall": found / expected if expected else 1.0,
            "worst_accuracy": min((self.worst_accuracy(r) for r in self.platforms), default=1.0),
            "quarantined": sum(sum(c.values()) for c in self.quarantine.values()),
        }

    def failures(
        self, min_recall: float = 1.0, min_accuracy: float = 1.0, max_duplicates: int = 0
    ) -> list[str]:
        """What falls short of the thresholds, one line per platform and shortfall."""
        out = []
        for r in self.platforms:
            p = r["platform"]
            if r["recall"] < min_recall:
                out.append(f"{p}: recall {r['recall']:.4%} < {min_recall:.2%}")
            if r["duplicate_keys"] > max_duplicates:
                out.append(f"{p}: {r['duplicate_keys']} duplicated post rows > {max_duplicates}")
            if r["posts_extra"]:
                out.append(f"{p}: {r['posts_extra']} posts in the lake that were never served")
            for f in FIELDS:
                if r[f"{f}_accuracy"] < min_accuracy:
                    out.append(f"{p}: {f} accuracy {r[f'{f}_accuracy']:.4%} < {min_accuracy:.2%}")
        return out

    def as_json(self) -> dict[str, Any]:
        """Machine-readable: ``platforms``, ``quarantine`` and ``totals``."""
        return {"platforms": self.platforms, "quarantine": self.quarantine, "totals": self.totals()}


def reason_class(reason: str) -> str:
    """The class of a quarantine reason (``truncated_body``, ``null_id``, ``bad_timestamp``,
    ``wrong_type``, ``skipped_item``, ``parser_error``, ``contract``), else ``other``."""
    for name, pattern in REASON_CLASSES:
        if re.search(pattern, reason):
            return name
    return "other"


def quarantine_counts(lake: Lake) -> dict[str, dict[str, int]]:
    """Quarantine rows per platform and reason class (a row's first rule decides)."""
    rows = lake.read("quarantine/rows", columns=["platform", "rules"])
    out: dict[str, dict[str, int]] = {}
    for platform, rules in rows.iter_rows():
        cls = reason_class(rules[0]) if rules else "other"
        counts = out.setdefault(platform or "unknown", {})
        counts[cls] = counts.get(cls, 0) + 1
    return {p: dict(sorted(c.items())) for p, c in sorted(out.items())}


def audit(lake: Lake, truth: Mapping[str, pl.DataFrame]) -> AuditReport:
    """Compare ``lake`` with ``truth`` (``World.truth()`` tables) and count its quarantine."""
    report = compare_with_truth(lake, dict(truth))
    stored = (
        lake.read("silver/posts", columns=["platform", "is_deleted"])
        .filter(~pl.col("is_deleted"))
        .group_by("platform")
        .len()
    )
    rows_per_platform = dict(stored.iter_rows())
    for row in report:
        n = int(rows_per_platform.get(row["platform"], 0))
        row["stored_posts"] = n
        row["duplicate_rate"] = row["duplicate_keys"] / n if n else 0.0
    return AuditReport(report, quarantine_counts(lake))


def load_truth(
    *, sandbox: str | None = None, truth_file: str | Path | None = None
) -> tuple[dict[str, pl.DataFrame], dict[str, Any]]:
    """The ground truth and its JSON payload: from a running sandbox or a ``truth_to_json`` file.

    Raises:
        ConfigurationError: the sandbox cannot be reached, or the file is missing or not truth.
    """
    from hhs_platform.sandbox.world import truth_from_json

    if sandbox:
        url = sandbox.rstrip("/") + "/_sandbox/truth"
        try:
            with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 - a local URL
                payload = json.loads(resp.read())
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"cannot read the ground truth from {url} ({exc}); is `hhs sandbox serve` "
                "running there?"
            ) from None
        where = url
    else:
        path = Path(truth_file or DEFAULT_TRUTH_FILE)
        if not path.is_file():
            raise ConfigurationError(
                f"no ground truth at {path}: run `hhs demo --no-serve` (it saves the truth it "
                "served there), pass --truth FILE, or --sandbox URL of a running sandbox"
            )
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ConfigurationError(f"{path} is not JSON: {exc}") from None
        where = str(path)
    try:
        return truth_from_json(payload), payload
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"{where} is not a ground truth of the simulated platforms ({exc})"
        ) from None


def _pct(value: float) -> str:
    return f"{value:.2%}"


def render(report: AuditReport) -> str:
    """The report as text: one table of recall, duplicates and accuracy, one of the quarantine."""
    head = ["platform", "posts", "found", "recall", "extra", "dup", "dup_rate"]
    head += [f.replace("posts_count", "posts_n") for f in FIELDS]
    lines = []
    for r in report.platforms:
        lines.append(
            [
                r["platform"],
                str(r["posts_expected"]),
                str(r["posts_found"]),
                _pct(r["recall"]),
                str(r["posts_extra"]),
                str(r["duplicate_keys"]),
                _pct(r["duplicate_rate"]),
                *(_pct(r[f"{f}_accuracy"]) for f in FIELDS),
            ]
        )
    t = report.totals()
    lines.append(
        [
            "all",
            str(t["posts_expected"]),
            str(t["posts_found"]),
            _pct(t["recall"]),
            str(t["posts_extra"]),
            str(t["duplicate_keys"]),
            _pct(t["duplicate_keys"] / t["stored_posts"] if t["stored_posts"] else 0.0),
            *(
                _pct(min((r[f"{f}_accuracy"] for r in report.platforms), default=1.0))
                for f in FIELDS
            ),
        ]
    )
    out = [
        "Lake against ground truth (accuracy: share of served values that landed exactly; "
        "row 'all': totals, and each field's lowest accuracy)"
    ]
    out += _table(head, lines)
    out.append("")
    if not report.quarantine:
        out.append("Quarantine: empty")
    else:
        classes = sorted({c for counts in report.quarantine.values() for c in counts})
        q_lines = [
            [p, *(str(counts.get(c, 0)) for c in classes), str(sum(counts.values()))]
            for p, counts in report.quarantine.items()
        ]
        out.append("Quarantine rows by reason class")
        out += _table(["platform", *classes, "total"], q_lines)
    return "\n".join(out) + "\n"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) for i in range(len(head))]

    def fmt(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    return [fmt(head), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows)]
