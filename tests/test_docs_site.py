"""The documentation site builds with warnings as errors and documents what the code has."""

from __future__ import annotations

import html
import inspect
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from hhs_platform import custom, pipeline
from hhs_platform.api import LakeClient
from hhs_platform.cli import app
from hhs_platform.connectors import CONNECTORS
from hhs_platform.settings import Settings
from schemas import CATALOGUE

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

pytestmark = pytest.mark.slow  # one mkdocs build, about 4 s


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def nav_pages(node: Any) -> Iterator[str]:
    """Every Markdown path of the nav of mkdocs.yml."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from nav_pages(item)
    elif isinstance(node, dict):
        for value in node.values():
            yield from nav_pages(value)


def html_path(site: Path, page: str) -> Path:
    """Where MkDocs (directory URLs) writes a page: a.md -> a/index.html, README.md -> index.html."""
    parent, name = Path(page).parent, Path(page).stem
    if name in ("index", "README"):
        return site / parent / "index.html"
    return site / parent / name / "index.html"


def read(site: Path, page: str) -> str:
    return html.unescape(html_path(site, page).read_text(encoding="utf-8"))


def test_every_nav_page_is_built_and_every_page_is_in_the_nav(site: Path) -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    pages = list(nav_pages(config["nav"]))
    assert len(pages) == len(set(pages)), "a page is twice in the nav"
    missing = [p for p in pages if not html_path(site, p).is_file()]
    assert missing == [], f"nav pages without HTML: {missing}"
    on_disk = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert on_disk - set(pages) == set(), "docs pages missing from the nav of mkdocs.yml"
    for group in (
        "Home",
        "Quick start",
        "Concepts",
        "Guides",
        "Reference",
        "Operations",
        "Troubleshooting",
    ):
        assert any(group in item for item in config["nav"]), group


def test_commands_page_lists_every_cli_command(site: Path) -> None:
    commands: list[str] = []

    def walk(cmd: Any, path: list[str]) -> None:
        subcommands = getattr(cmd, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(sub, [*path, name])
        else:
            commands.append(" ".join(path))

    walk(typer.main.get_command(app), ["hhs"])
    assert len(commands) > 20
    text = read(site, "commands.md")
    absent = [c for c in commands if f"<code>{c}</code>" not in text]
    assert absent == [], f"commands missing from the Commands page: {absent}"


def test_tables_page_names_every_table(site: Path) -> None:
    text = read(site, "tables.md")
    absent = [name for name in CATALOGUE if f"<code>{name}</code>" not in text]
    assert absent == [], f"tables missing from the Tables page: {absent}"


def test_api_page_documents_connect_and_every_public_method(site: Path) -> None:
    text = read(site, "reference/api.md")
    methods = [
        name
        for name, member in vars(LakeClient).items()
        if not name.startswith("_") and inspect.isfunction(member)
    ]
    assert {"table", "posts", "metrics", "anomalies", "to_dask"} <= set(methods)
    ids = set(re.findall(r'id="([^"]+)"', text))
    assert "hhs_platform.api.connect" in ids
    assert "hhs_platform.api.LakeClient" in ids
    absent = [m for m in methods if f"hhs_platform.api.LakeClient.{m}" not in ids]
    assert absent == [], f"LakeClient methods missing from the API page: {absent}"
    # The docstrings themselves are rendered, not only the headings.
    assert inspect.getdoc(LakeClient.table).splitlines()[0] in text  # type: ignore[union-attr]


def test_reference_pages_render_their_modules(site: Path) -> None:
    assert 'id="hhs_platform.lake.reads.daily_account_metrics"' in read(site, "reference/reads.md")
    errors = read(site, "reference/errors.md")
    for name in ("HhsError", "TerminalError", "TransientError", "RateLimitedError", "ReadError"):
        assert f'id="hhs_platform.errors.{name}"' in errors, name
    for module in (pipeline, custom):
        short = module.__name__.rsplit(".", 1)[1]
        text = read(site, f"reference/{short}.md")
        public = [
            name
            for name, member in vars(module).items()
            if not name.startswith("_")
            and inspect.isfunction(member)
            and member.__module__ == module.__name__
        ]
        assert public, module.__name__
        absent = [n for n in public if f'id="{module.__name__}.{n}"' not in text]
        assert absent == [], f"{module.__name__}: {absent} missing from its reference page"


def test_credentials_page_names_every_platform_and_its_settings(site: Path) -> None:
    text = read(site, "credentials.md")
    for platform, connector in CONNECTORS.items():
        assert f"<code>{platform}</code>" in text, platform
        settings = [f for f in Settings.model_fields if f.startswith(f"{platform}_")]
        assert f"{platform}_api_base" in settings
        required = [f"HHS_{name.upper()}" for name in connector.required_settings]
        for env in [f"HHS_{name.upper()}" for name in settings] + required:
            assert env in text, f"{platform}: {env} not on the credentials page"


def test_cluster_page_includes_the_cluster_readme(site: Path) -> None:
    readme = (ROOT / "cluster" / "README.md").read_text(encoding="utf-8")
    headings = [line[3:].strip() for line in readme.splitlines() if line.startswith("## ")]
    assert headings
    text = read(site, "cluster.md")
    for heading in headings:
        assert heading in text, heading


def test_troubleshooting_quotes_the_real_messages(site: Path) -> None:
    from hhs_platform.reports.brief import _missing_message

    text = read(site, "troubleshooting.md")
    assert _missing_message(Path("/usr/bin/chromium")) in text
    for heading in (
        "Prefect server not reachable",
        "Port already in use",
        "Chromium missing",
        "Delta commit conflicts",
        "S3 credentials",
        "HTTP 429",
        "missing credentials",
        "quarantine",
        "Stale data",
    ):
        assert heading in text, heading
