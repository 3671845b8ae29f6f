"""Where secrets come from (arguments, environment, .env, a secrets folder, Prefect Secret blocks,
in that order) and the log redaction that keeps them out of every record."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from hhs_platform.errors import ConfigurationError
from hhs_platform.secrets import (
    REDACTED,
    block_name,
    clear_block_cache,
    install_redaction,
    uninstall_redaction,
)
from hhs_platform.settings import Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No HHS_* variable of the machine, and no redaction left installed."""
    for name in [n for n in os.environ if n.startswith("HHS_")]:
        monkeypatch.delenv(name)
    yield
    uninstall_redaction()


def write(folder: Path, name: str, value: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(value, encoding="utf-8")


# -- secrets folder and precedence ---------------------------------------------------------------


def test_a_secrets_folder_gives_every_kind_of_setting(tmp_path: Path) -> None:
    folder = tmp_path / "secrets"
    write(folder, "HHS_X_BEARER_TOKEN", "x-from-file\n")  # a trailing newline is not the value
    write(folder, "hhs_flickr_api_key", "flickr-from-file")  # any case, like the variables
    write(folder, "HHS_YOUTUBE_API_KEYS", '["yt-1-from-file", "yt-2-from-file"]')
    write(folder, "HHS_LAKE_STORAGE_OPTIONS", '{"AWS_SECRET_ACCESS_KEY": "aws-from-file"}')
    write(folder, "HHS_BATCH_SIZE", "3")
    # a Kubernetes Secret volume: each key a symlink into a timestamped folder
    write(folder / "..2026_11_01_00_00_00.1", "HHS_REDDIT_ACCESS_TOKEN", "reddit-from-volume")
    (folder / "..data").symlink_to("..2026_11_01_00_00_00.1")
    (folder / "HHS_REDDIT_ACCESS_TOKEN").symlink_to("..data/HHS_REDDIT_ACCESS_TOKEN")
    s = Settings(_env_file=None, secrets_dir=folder)  # type: ignore[call-arg]
    assert s.secret("x_bearer_token") == "x-from-file"
    assert s.secret("flickr_api_key") == "flickr-from-file"
    assert [k.get_secret_value() for k in s.youtube_api_keys] == [
        "yt-1-from-file",
        "yt-2-from-file",
    ]
    assert s.lake_storage_options == {"AWS_SECRET_ACCESS_KEY": "aws-from-file"}
    assert s.batch_size == 3
    assert s.secret("reddit_access_token") == "reddit-from-volume"
    assert s.facebook_access_token is None  # no file: the default
    assert sorted(s.secret_values()) == sorted(
        [
            "x-from-file",
            "flickr-from-file",
            "yt-1-from-file",
            "yt-2-from-file",
            "aws-from-file",
            "reddit-from-volume",
        ]
    )
    assert "aws-from-file" not in repr(s) and "x-from-file" not in repr(s)


def test_arguments_then_environment_then_dotenv_then_the_secrets_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "secrets"
    for name in (
        "X_BEARER_TOKEN",
        "FACEBOOK_ACCESS_TOKEN",
        "REDDIT_ACCESS_TOKEN",
        "FLICKR_API_KEY",
    ):
        write(folder, f"HHS_{name}", f"{name.lower()}-file")
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        f"HHS_SECRETS_DIR={folder}\n"  # the folder itself may be named in .env
        "HHS_X_BEARER_TOKEN=x-dotenv\nHHS_FACEBOOK_ACCESS_TOKEN=facebook-dotenv\n"
        "HHS_REDDIT_ACCESS_TOKEN=reddit-dotenv\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("HHS_X_BEARER_TOKEN", "x-env")
    monkeypatch.setenv("HHS_FACEBOOK_ACCESS_TOKEN", "facebook-env")
    s = Settings(_env_file=dotenv, x_bearer_token="x-argument")  # type: ignore[call-arg]
    assert s.secret("x_bearer_token") == "x-argument"
    assert s.secret("facebook_access_token") == "facebook-env"
    assert s.secret("reddit_access_token") == "reddit-dotenv"
    assert s.secret("flickr_api_key") == "flickr_api_key-file"
    assert s.secrets_dir == folder


def test_a_secrets_folder_that_is_not_a_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigurationError, match=r"HHS_SECRETS_DIR=.*is not a folder"):
        Settings(_env_file=None, secrets_dir=tmp_path / "absent")  # type: ignore[call-arg]
    monkeypatch.setenv("HHS_SECRETS_DIR", str(tmp_path / "absent"))
    with pytest.raises(ConfigurationError, match="HHS_SECRETS_DIR"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_storage_option_credentials_are_secret_values() -> None:
    s = Settings(  # type: ignore[call-arg]
        _env_file=None,
        lake_storage_options={
            "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE0001",
            "AWS_SECRET_ACCESS_KEY": "lake-secret-key-0001",
            "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
        },
        backup_storage_options={"AWS_SESSION_TOKEN": "backup-session-token-02"},
        archive_storage_options={"azure_storage_account_key": "archive-account-key-03"},
    )
    assert sorted(s.secret_values()) == sorted(
        [
            "AKIAEXAMPLE0001",
            "lake-secret-key-0001",
            "backup-session-token-02",
            "archive-account-key-03",
        ]
    )
    assert all(v not in repr(s) for v in s.secret_values())


# -- log redaction -------------------------------------------------------------------------------


def test_every_log_record_is_redacted_whichever_logger_or_handler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    token, key = "tok-1234567890abcdef", "key/with+special chars"
    install_redaction(
        Settings(_env_file=None, x_bearer_token=token, youtube_api_key=key)  # type: ignore[call-arg]
    )
    caplog.set_level(logging.DEBUG)
    library = logging.getLogger("some.library.deep")
    library.info("calling with Authorization: Bearer %s", token)
    library.warning("GET https://h.example/v3?part=id&key=%s", "not-a-configured-value")
    library.warning("url %s", "https://user:hunter22@h.example/path")
    library.warning("encoded %s", "k=key%2Fwith%2Bspecial%20chars")
    try:
        raise RuntimeError(f"refused token {token}")
    except RuntimeError:
        library.exception("request failed")
    logging.getLogger().error("root %(t)s", {"t": token})

    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        f"calling with Authorization: Bearer {REDACTED}",
        f"GET https://h.example/v3?part=id&key={REDACTED}",
        f"url https://{REDACTED}@h.example/path",
        f"encoded k={REDACTED}",
        "request failed",
        f"root {REDACTED}",
    ]
    assert f"RuntimeError: refused token {REDACTED}" in caplog.text
    assert token not in caplog.text and "hunter22" not in caplog.text
    # a handler attached later (the way Prefect or a user would) gets redacted records too
    stream = __import__("io").StringIO()
    handler = logging.StreamHandler(stream)
    library.addHandler(handler)
    try:
        library.error("late %s", token)
    finally:
        library.removeHandler(handler)
    assert stream.getvalue() == f"late {REDACTED}\n"
    uninstall_redaction()
    library.error("after %s", token)
    assert caplog.records[-1].getMessage() == f"after {token}"


def test_the_hhs_command_installs_the_redaction(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from hhs_platform import cli
    from hhs_platform.settings import get_settings

    monkeypatch.setenv("HHS_REDDIT_ACCESS_TOKEN", "reddit-token-for-cli-77")
    monkeypatch.setattr(sys, "argv", ["hhs", "--help"])
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit):
            cli.main()
    finally:
        get_settings.cache_clear()
    caplog.set_level(logging.INFO)
    logging.getLogger("any").info("token reddit-token-for-cli-77 in a message")
    assert caplog.records[-1].getMessage() == f"token {REDACTED} in a message"


def test_a_command_with_broken_settings_still_runs_to_report_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hhs_platform import cli
    from hhs_platform.settings import get_settings

    monkeypatch.setenv("HHS_BATCH_SIZE", "not-a-number")
    monkeypatch.setattr(sys, "argv", ["hhs", "--help"])
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as exit_:
            cli.main()
    finally:
        get_settings.cache_clear()
    assert exit_.value.code == 0  # the help printed: the settings error is left to commands


# -- Prefect Secret blocks -----------------------------------------------------------------------


@pytest.mark.slow
def test_prefect_secret_blocks_come_after_the_secrets_folder(
    prefect_harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.blocks.system import Secret

    values = {
        "x_bearer_token": "x-from-block",
        "linkedin_access_token": "linkedin-from-block",
        "youtube_api_keys": ["yt-block-1", "yt-block-2"],  # a JSON value: a list setting
    }
    for setting, value in values.items():
        Secret(value=value).save(block_name(setting), overwrite=True)
    assert block_name("x_bearer_token") == "hhs-x-bearer-token"
    clear_block_cache()
    folder = tmp_path / "secrets"
    write(folder, "HHS_LINKEDIN_ACCESS_TOKEN", "linkedin-from-file")
    monkeypatch.setenv("HHS_PREFECT_SECRET_BLOCKS", "true")
    s = Settings(_env_file=None, secrets_dir=folder)  # type: ignore[call-arg]
    assert s.prefect_secret_blocks is True
    assert s.secret("x_bearer_token") == "x-from-block"
    assert s.secret("linkedin_access_token") == "linkedin-from-file"
    assert [k.get_secret_value() for k in s.youtube_api_keys] == ["yt-block-1", "yt-block-2"]
    assert isinstance(s.x_bearer_token, SecretStr) and "x-from-block" not in repr(s)
    monkeypatch.setenv("HHS_X_BEARER_TOKEN", "x-from-env")
    assert Settings(_env_file=None).secret("x_bearer_token") == "x-from-env"  # type: ignore[call-arg]
    # off (the default): the blocks are not read
    monkeypatch.delenv("HHS_PREFECT_SECRET_BLOCKS")
    monkeypatch.delenv("HHS_X_BEARER_TOKEN")
    assert Settings(_env_file=None).x_bearer_token is None  # type: ignore[call-arg]


def test_unreachable_prefect_api_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    clear_block_cache()
    monkeypatch.setenv("HHS_PREFECT_SECRET_BLOCKS", "1")
    with (
        temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}),
        pytest.raises(ConfigurationError) as error,
    ):
        Settings(_env_file=None)  # type: ignore[call-arg]
    message = str(error.value)
    assert "HHS_PREFECT_SECRET_BLOCKS" in message and "http://127.0.0.1:9/api" in message
    assert json.dumps(message)  # a plain message, no traceback of the client
