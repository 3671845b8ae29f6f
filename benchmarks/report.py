"""What every benchmark reports the same way: percentiles, ratios against a target or a baseline,
the machine the numbers were measured on, fixed-width tables and the JSON results file."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hhs_platform.settings import Settings

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
#: Accounts per fetch task unless a benchmark is told otherwise: the product's default
#: (``HHS_BATCH_SIZE``), so the benchmarks measure what a run does out of the box.
BATCH_SIZE: int = Settings.model_fields["batch_size"].default


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (linear interpolation between closest ranks); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratio(value: float | None, reference: float | None, digits: int = 2) -> float | None:
    """``value / reference`` rounded (None when either is missing or the reference is 0)."""
    if value is None or not reference:
        return None
    return round(value / reference, digits)


def fmt(value: float | None, digits: int = 2) -> str:
    """A number with thousands separators, ``-`` for None."""
    return "-" if value is None else f"{value:,.{digits}f}"


def load_average() -> float | None:
    """The 1-minute load average (None where the system has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def peak_rss_mib(children: bool = False) -> float:
    """Peak resident memory of this process (or of its finished children), in MiB."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)  # kilobytes on Linux


def cpu_seconds() -> float:
    """CPU time (user + system) this process has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine(versions: Iterable[str] = ("polars", "deltalake")) -> dict[str, Any]:
    """What the numbers were measured on: CPU, cores, memory, OS, Python, library versions, the
    load average and the time of measuring."""
    from importlib.metadata import PackageNotFoundError, version

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    libraries: dict[str, str] = {}
    for name in versions:
        try:
            libraries[name] = version(name)
        except PackageNotFoundError:
            libraries[name] = "missing"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        **libraries,
        "load_average": load_average(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def chromium_version(path: str) -> str:
    """``chromium --version`` of the browser at ``path`` ("missing" when it does not run)."""
    try:
        return subprocess.run(  # noqa: S603 - a fixed path, no user input
            [path, "--version"], capture_output=True, text=True, timeout=20, check=False
        ).stdout.strip()
    except OSError:
        return "missing"


def print_table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[tuple[str, str, int]],
    out: Callable[[str], None] = print,
) -> None:
    """Rows as a fixed-width table. ``columns``: (key, heading, digits); text is left-aligned,
    numbers right-aligned with ``digits`` decimals."""
    widths = []
    for key, heading, digits in columns:
        cells = [_cell(r.get(key), digits) for r in rows]
        widths.append(max([len(heading), *(len(c) for c in cells)]))
    out(
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w)
            for i, ((_, h, _), w) in enumerate(zip(columns, widths, strict=True))
        )
    )
    for r in rows:
        cells = [_cell(r.get(k), d) for k, _, d in columns]
        out(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
        )


def _cell(value: Any, digits: int) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return fmt(float(value), digits)


def write_results(name: str, payload: dict[str, Any], results: Path = RESULTS) -> Path:
    """Write ``results/<name>.json`` (the machine added when the payload has none); its path."""
    results.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "machine": payload.get("machine") or machine(), **payload}
    path = results / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


__all__ = [
    "RESULTS",
    "chromium_version",
    "cpu_seconds",
    "fmt",
    "load_average",
    "machine",
    "peak_rss_mib",
    "percentile",
    "print_table",
    "ratio",
    "write_results",
]
