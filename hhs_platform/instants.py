"""Instants given by people (command-line options): ISO 8601, UTC when no zone is named.

Shared by the ``hhs`` commands and ``python -m hhs_platform.sandbox``; imports nothing else of
the project, so either can use it without loading the other.
"""

from __future__ import annotations

from datetime import UTC, datetime


def parse_instant(text: str) -> datetime:
    """An ISO 8601 date or date-time (``2026-11-25``, ``2026-11-25T06:00``, ``...Z``,
    ``...+01:00``); UTC when it names no zone.

    Raises:
        ValueError: ``text`` is not such a date.
    """
    try:
        instant = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO 8601 date or date-time (e.g. 2026-11-25 or 2026-11-25T06:00Z)"
        ) from None
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)
