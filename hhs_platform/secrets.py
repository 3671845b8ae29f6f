"""Where secrets come from (settings sources) and how they are kept out of every log record.

Settings are read, highest precedence first, from: arguments to ``Settings(...)``, ``HHS_*``
environment variables, the ``.env`` file, secret files in ``HHS_SECRETS_DIR`` (one file per
setting, named like its variable: ``/run/secrets/HHS_X_BEARER_TOKEN``), Prefect Secret blocks
named ``hhs-<setting>`` (``hhs-x-bearer-token``) when ``HHS_PREFECT_SECRET_BLOCKS`` is on, and
the defaults. :func:`install_redaction` replaces every configured secret in every log record
of the process with ``***``, whichever logger or library wrote it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pydantic_settings import (
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
)

from hhs_platform.errors import ConfigurationError

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

    from hhs_platform.settings import Settings

REDACTED = "***"
#: Prefix of the Prefect Secret blocks read as settings: ``hhs-`` + the setting, dashed.
BLOCK_PREFIX = "hhs-"
#: Storage-option keys whose values are credentials (``AWS_SECRET_ACCESS_KEY``,
#: ``AWS_SESSION_TOKEN``, ``AZURE_STORAGE_ACCOUNT_KEY``, ``GOOGLE_SERVICE_ACCOUNT_KEY``...).
SECRET_OPTION = re.compile(r"SECRET|TOKEN|KEY|PASSWORD|CREDENTIAL|SAS", re.IGNORECASE)
#: Shorter storage-option values are not redacted (``true``, a region): too common in text.
MIN_OPTION_SECRET = 8
#: Seconds a read of the Prefect Secret blocks is reused by later ``Settings()`` in the process.
BLOCK_CACHE_S = 30.0
# Query parameters that carry credentials, redacted whatever their value.
_SECRET_PARAM = re.compile(
    r"([?&;](?:access_token|api_key|apikey|key|token|bearer_token|refresh_token|client_secret|"
    r"secret|password|oauth_token|oauth_signature|signature|sig)=)[^&#;\s\"']*",
    re.IGNORECASE,
)
# user:password@ in a URL anywhere in a text.
_USERINFO = re.compile(r"([a-z][a-z0-9+.-]*://)[^/@\s\"']+@", re.IGNORECASE)


# --- settings sources --------------------------------------------------------------------------


def _bootstrap(name: str, *sources: PydanticBaseSettingsSource) -> Any:
    """The value of setting ``name`` from the sources read before the secret sources: the
    ``Settings(...)`` arguments, the environment, then ``.env``."""
    for source in sources:
        init_kwargs = getattr(source, "init_kwargs", None)
        if isinstance(init_kwargs, Mapping) and init_kwargs.get(name) is not None:
            return init_kwargs[name]
        env_vars = getattr(source, "env_vars", None)
        if isinstance(env_vars, Mapping):
            value = env_vars.get(f"hhs_{name}")
            if value is not None and str(value).strip():
                return str(value).strip()
    return None


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def settings_sources(
    settings_cls: type[BaseSettings],
    init_settings: PydanticBaseSettingsSource,
    env_settings: PydanticBaseSettingsSource,
    dotenv_settings: PydanticBaseSettingsSource,
    file_secret_settings: PydanticBaseSettingsSource,
) -> tuple[PydanticBaseSettingsSource, ...]:
    """The settings sources in precedence order (``Settings.settings_customise_sources``).

    Arguments, environment, ``.env``, then the secret files of ``HHS_SECRETS_DIR`` (or a
    ``_secrets_dir=`` argument), then the Prefect Secret blocks if ``HHS_PREFECT_SECRET_BLOCKS``.

    Raises:
        ConfigurationError: ``HHS_SECRETS_DIR`` is not a folder, or the blocks are on and the
            Prefect API cannot be read.
    """
    sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
    first = (init_settings, env_settings, dotenv_settings)
    folder = _bootstrap("secrets_dir", *first)
    if folder is not None:
        path = Path(str(folder)).expanduser()
        if not path.is_dir():
            raise ConfigurationError(
                f"HHS_SECRETS_DIR={str(folder)!r} is not a folder: point it at the folder of "
                "secret files (e.g. /run/secrets, one file per setting named like "
                "HHS_X_BEARER_TOKEN) or unset it"
            )
        sources.append(SecretsSettingsSource(settings_cls, secrets_dir=path))
    elif getattr(file_secret_settings, "secrets_dir", None) is not None:
        sources.append(file_secret_settings)  # Settings(_secrets_dir=...)
    if _flag(_bootstrap("prefect_secret_blocks", *first) or False):
        sources.append(PrefectSecretBlocksSource(settings_cls))
    return tuple(sources)


def _block_setting(name: str) -> str | None:
    """``hhs-x-bearer-token`` -> ``x_bearer_token`` (``None`` for other blocks)."""
    if not name.startswith(BLOCK_PREFIX):
        return None
    return name.removeprefix(BLOCK_PREFIX).replace("-", "_")


def block_name(setting: str) -> str:
    """The Prefect Secret block name that holds ``setting``: ``x_bearer_token`` ->
    ``hhs-x-bearer-token``."""
    return BLOCK_PREFIX + setting.replace("_", "-")


_block_cache: dict[str, tuple[float, dict[str, str]]] = {}
_block_lock = threading.Lock()


def read_secret_blocks(*, max_age_s: float = BLOCK_CACHE_S) -> dict[str, str]:
    """Every Prefect Secret block named ``hhs-*``, as ``{setting: value}`` (one API call).

    A JSON value (a list or an object) is returned as its JSON text, the way it would be
    written in the variable. Reads younger than ``max_age_s`` seconds are reused.

    Raises:
        ConfigurationError: The Prefect API (``PREFECT_API_URL``) cannot be read.
    """
    from prefect.settings import PREFECT_API_URL

    api = str(PREFECT_API_URL.value() or "ephemeral")
    with _block_lock:
        cached = _block_cache.get(api)
        if cached is not None and time.monotonic() - cached[0] < max_age_s:
            return dict(cached[1])
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            documents = client.read_block_documents_by_type("secret", include_secrets=True)
    except Exception as exc:
        raise ConfigurationError(
            f"HHS_PREFECT_SECRET_BLOCKS is on but the Prefect API ({api}) could not be read "
            f"({type(exc).__name__}): check PREFECT_API_URL / PREFECT_API_KEY, or turn "
            "HHS_PREFECT_SECRET_BLOCKS off"
        ) from None
    values: dict[str, str] = {}
    for doc in documents:
        setting = _block_setting(doc.name or "")
        value = (doc.data or {}).get("value")
        if setting is None or value is None:
            continue
        values[setting] = value if isinstance(value, str) else json.dumps(value)
    with _block_lock:
        _block_cache[api] = (time.monotonic(), values)
    return dict(values)


def clear_block_cache() -> None:
    """Forget the cached read of the Prefect Secret blocks (the next ``Settings()`` reads them)."""
    with _block_lock:
        _block_cache.clear()


class PrefectSecretBlocksSource(EnvSettingsSource):
    """Settings from Prefect Secret blocks ``hhs-<setting>``, parsed like environment variables
    (a JSON list or object where the setting takes one)."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {f"hhs_{name}": value for name, value in read_secret_blocks().items()}


# --- which values are secret -------------------------------------------------------------------


def storage_option_secrets(options: Mapping[str, str]) -> list[str]:
    """The credential values of deltalake storage options (keys naming a secret, token, key or
    password; values of at least ``MIN_OPTION_SECRET`` characters)."""
    return [
        str(value)
        for key, value in options.items()
        if SECRET_OPTION.search(str(key)) and len(str(value)) >= MIN_OPTION_SECRET
    ]


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` without credentials: every secret value (also URL-encoded), secret query
    parameters and ``user:password@`` of URLs become ``***``."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
        encoded = quote(secret, safe="")
        if encoded != secret and encoded in text:
            text = text.replace(encoded, REDACTED)
    if "=" in text:
        text = _SECRET_PARAM.sub(r"\1" + REDACTED, text)
    if "@" in text:
        text = _USERINFO.sub(r"\1" + REDACTED + "@", text)
    return text


# --- log redaction -----------------------------------------------------------------------------


class RedactionFilter(logging.Filter):
    """Rewrites a log record so that no secret is left in its message, arguments, exception
    traceback or stack: the message is formatted once and redacted, the traceback text is
    stored redacted in ``exc_text`` (which formatters print instead of formatting again).
    Never drops a record. Attach it to a handler of your own, or let :func:`install_redaction`
    apply it to every record of the process."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: frozenset[str] = frozenset()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Redact these values too."""
        self._secrets = self._secrets | {s for s in secrets if s and len(s) >= 4}

    @property
    def secrets(self) -> frozenset[str]:
        """The values redacted."""
        return self._secrets

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place; always keep it."""
        secrets = self._secrets
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep its parts, redacted
            message = f"{record.msg} {record.args!r}"
        clean = redact(message, secrets)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[0] is not None:
            text = record.exc_text or "".join(traceback.format_exception(*record.exc_info))
            record.exc_text = redact(text.rstrip("\n"), secrets)
        elif record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, secrets)
        return True


_installed: RedactionFilter | None = None
_previous_factory: Callable[..., logging.LogRecord] | None = None
_install_lock = threading.Lock()


def install_redaction(settings: Settings | None = None) -> RedactionFilter:
    """Redact the secrets of ``settings`` (default: the process settings) from every log record
    made in this process from now on, by any logger. Calling it again adds secrets.

    The filter runs when a record is made (``logging.setLogRecordFactory``), not as a logger
    filter: a logger's filters do not see records of its child loggers, and handlers added later
    (Prefect's, Dask's, a test's) would miss it.

    Returns:
        The installed filter (``add()`` more values to it).
    """
    global _installed, _previous_factory
    if settings is None:
        from hhs_platform.settings import get_settings

        settings = get_settings()
    with _install_lock:
        if _installed is None:
            filt = RedactionFilter()
            previous = logging.getLogRecordFactory()

            def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
                record = previous(*args, **kwargs)
                if filt.secrets:
                    filt.filter(record)
                return record

            logging.setLogRecordFactory(factory)
            _installed, _previous_factory = filt, previous
        _installed.add(settings.secret_values())
        return _installed


def uninstall_redaction() -> None:
    """Undo :func:`install_redaction` (records are made as before)."""
    global _installed, _previous_factory
    with _install_lock:
        if _installed is not None and _previous_factory is not None:
            logging.setLogRecordFactory(_previous_factory)
        _installed, _previous_factory = None, None


def install_redaction_from_environment() -> None:
    """:func:`install_redaction` for a command's process; settings that do not load are left to
    the command to report (it reads them again and says what is wrong)."""
    with contextlib.suppress(Exception):  # the command itself reports a settings error
        install_redaction()


__all__ = [
    "BLOCK_PREFIX",
    "REDACTED",
    "PrefectSecretBlocksSource",
    "RedactionFilter",
    "block_name",
    "clear_block_cache",
    "install_redaction",
    "install_redaction_from_environment",
    "read_secret_blocks",
    "redact",
    "settings_sources",
    "storage_option_secrets",
    "uninstall_redaction",
]
