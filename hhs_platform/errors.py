"""The project's exceptions. Catch the branch you can handle; the HTTP layer retries transient ones.

```text
HhsError
├── ConfigurationError          a setting or input file is wrong (terminal; the message says which)
│   └── RegistryError           the accounts registry file is malformed (names the row)
├── CollectionError             something went wrong talking to a platform
│   ├── TerminalError           retrying will not help
│   │   ├── AuthError           bad or missing credentials (401/403 permission)
│   │   ├── NotFoundError       account or resource does not exist (404, "Profile not found")
│   │   └── QuotaExhaustedError a quota counted in units is spent until its reset (YouTube)
│   └── TransientError          worth retrying with backoff
│       ├── RateLimitedError    429 or the platform's own rate-limit signal; carries retry_after
│       ├── ServerError         5xx
│       ├── NetworkError        timeout, reset connection, truncated body
│       └── CircuitOpenError    the platform's circuit breaker is open: skipped without a request
├── ParseError                  a payload could not be turned into rows (goes to quarantine)
└── LakeError                   a table could not be read or written
    ├── BackupError             a backup, restore or checksum verification failed (names the table)
    └── ReadError               a read through hhs_platform.connect() could not be served
```
"""

from __future__ import annotations


class HhsError(Exception):
    """Root of every error raised by the platform."""


class ConfigurationError(HhsError):
    """A setting or input file is wrong; the message names it and the fix."""


class RegistryError(ConfigurationError):
    """The accounts registry is malformed."""


class CollectionError(HhsError):
    """A request to a platform failed."""

    def __init__(self, message: str, *, platform: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.platform = platform
        self.status = status


class TerminalError(CollectionError):
    """Retrying will not help."""


class AuthError(TerminalError):
    """Credentials are missing, wrong or lack a permission."""


class NotFoundError(TerminalError):
    """The account or resource does not exist on the platform."""


class QuotaExhaustedError(TerminalError):
    """A unit quota (e.g. YouTube's daily 10,000) is spent until it resets."""


class TransientError(CollectionError):
    """Worth retrying after a pause."""

    def __init__(
        self,
        message: str,
        *,
        platform: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, platform=platform, status=status)
        self.retry_after = retry_after


class RateLimitedError(TransientError):
    """The platform said to slow down (429 or its own signal)."""


class ServerError(TransientError):
    """The platform answered 5xx."""


class NetworkError(TransientError):
    """Timeout, reset connection or truncated body."""


class CircuitOpenError(TransientError):
    """The platform failed too often in a row; its requests fail fast until a probe succeeds."""


class ParseError(HhsError):
    """A payload could not be turned into rows."""


class LakeError(HhsError):
    """A lake table could not be read or written."""


class BackupError(LakeError):
    """A backup, restore or verification failed; ``tables`` names the tables concerned."""

    def __init__(self, message: str, *, tables: list[str] | None = None) -> None:
        super().__init__(message)
        self.tables = list(tables or [])


class ReadError(LakeError):
    """A read through the Python API (``hhs_platform.connect``) could not be served."""
