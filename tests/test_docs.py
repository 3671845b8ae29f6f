"""Generated reference docs are up to date with the code."""

from __future__ import annotations

from pathlib import Path

from hhs_platform.docgen import (
    capabilities_markdown,
    commands_markdown,
    inventory_markdown,
    metrics_markdown,
    settings_markdown,
    tables_markdown,
)

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_tables_doc_is_current() -> None:
    assert (DOCS / "tables.md").read_text() == tables_markdown(), (
        "run: python -m hhs_platform.docgen"
    )


def test_settings_doc_is_current() -> None:
    text = (DOCS / "settings.md").read_text()
    assert text == settings_markdown(), "run: python -m hhs_platform.docgen"
    assert "HHS_LAKE_URI" in text and "HHS_BLUESKY_API_BASE" in text and "HHS_DASK_ADDRESS" in text


def test_commands_doc_is_current() -> None:
    text = (DOCS / "commands.md").read_text()
    assert text == commands_markdown(), "run: python -m hhs_platform.docgen"
    for command in (
        "hhs demo",
        "hhs collect",
        "hhs serve",
        "hhs sandbox serve",
        "hhs registry validate",
    ):
        assert f"## `{command}`" in text


def test_capabilities_doc_is_current() -> None:
    text = (DOCS / "capabilities.md").read_text()
    assert text == capabilities_markdown(), "run: python -m hhs_platform.docgen"
    assert "| bluesky |" in text and "| youtube |" in text


def test_metrics_doc_is_current() -> None:
    text = (DOCS / "metrics.md").read_text()
    assert text == metrics_markdown(), "run: python -m hhs_platform.docgen"
    assert "`public_metrics.impression_count`" in text


def test_privacy_inventory_doc_is_current() -> None:
    text = (DOCS / "privacy-inventory.md").read_text()
    assert text == inventory_markdown(), "run: python -m hhs_platform.docgen"
