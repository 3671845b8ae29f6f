"""Deliver a message to apprise URLs (webhook, e-mail, Slack, Teams...) without leaking them.

A URL carries its credentials (a webhook token, an SMTP password), so nothing here logs, stores or
raises one: a channel is named by its scheme only (``json``, ``mailtos``, ``slack``), and apprise's
and urllib3's own loggers, which print request URLs at debug level, are held to CRITICAL while a
message is being sent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, Protocol

from pydantic import SecretStr

log = logging.getLogger(__name__)

#: How a message reads in the receiving tool (apprise's notify types).
NotifyType = Literal["info", "warning", "failure", "success"]
#: Loggers that write request URLs (with their path tokens) at debug level.
_QUIET_LOGGERS = ("apprise", "urllib3", "requests")
_quiet_lock = threading.Lock()
_quiet_depth = 0
_saved_levels: dict[str, int] = {}


@dataclass(frozen=True)
class ChannelResult:
    """One URL's outcome: its scheme (never the URL) and whether it accepted the message."""

    scheme: str
    ok: bool
    error: str = ""


@dataclass(frozen=True)
class Delivery:
    """A message's outcome over every URL it went to."""

    channels: tuple[ChannelResult, ...]

    @property
    def ok(self) -> bool:
        """Every URL accepted it (False when there was none)."""
        return bool(self.channels) and all(c.ok for c in self.channels)

    def describe(self) -> str:
        """``json ok, mailto FAILED`` (schemes only)."""
        return ", ".join(f"{c.scheme} {'ok' if c.ok else 'FAILED'}" for c in self.channels)


class Sender(Protocol):
    """Sends one message to some URLs (the one seam delivery has; tests use the real one)."""

    def send(
        self, urls: Sequence[SecretStr], title: str, body: str, notify_type: NotifyType
    ) -> Delivery: ...


def scheme(url: SecretStr | str) -> str:
    """The scheme of an apprise URL (``json``), or ``invalid`` (never any other part of it)."""
    text = url.get_secret_value() if isinstance(url, SecretStr) else url
    head, sep, _ = text.partition("://")
    return head.lower() if sep and head.isalnum() else "invalid"


@contextmanager
def _quiet() -> Iterator[None]:
    """Hold the URL-logging loggers at CRITICAL while any thread is sending."""
    global _quiet_depth
    with _quiet_lock:
        if _quiet_depth == 0:
            for name in _QUIET_LOGGERS:
                logger = logging.getLogger(name)
                _saved_levels[name] = logger.level
                logger.setLevel(logging.CRITICAL)
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0:
                for name, level in _saved_levels.items():
                    logging.getLogger(name).setLevel(level)


class AppriseSender:
    """Sends through apprise, one apprise object per URL so each URL's outcome is known."""

    def __init__(self, timeout_s: float = 20.0) -> None:
        self.timeout_s = timeout_s

    def send(
        self, urls: Sequence[SecretStr], title: str, body: str, notify_type: NotifyType
    ) -> Delivery:
        """Send ``title``/``body`` to every URL; never raises, never logs a URL."""
        import apprise

        results = []
        with _quiet():
            for url in urls:
                name = scheme(url)
                try:
                    app = apprise.Apprise()
                    if not app.add(url.get_secret_value()):
                        results.append(ChannelResult(name, False, "not a valid apprise URL"))
                        continue
                    outcome = app.notify(
                        body=body,
                        title=title,
                        notify_type=apprise.NotifyType(notify_type),
                        body_format=apprise.NotifyFormat.TEXT,
                        timeout=self.timeout_s,
                    )
                    ok = bool(outcome)
                    results.append(ChannelResult(name, ok, "" if ok else "refused or unreachable"))
                except Exception as exc:  # a failure must not crash a run
                    # Only the type: the message of a library error may quote the URL.
                    results.append(ChannelResult(name, False, type(exc).__name__))
        for result in results:
            if not result.ok:
                log.warning("alert delivery to a %s:// URL failed: %s", result.scheme, result.error)
        return Delivery(tuple(results))


__all__ = ["AppriseSender", "ChannelResult", "Delivery", "NotifyType", "Sender", "scheme"]
