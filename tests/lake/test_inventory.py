"""The data inventory generated from schemas/: complete, classified, with retention and paths."""

from __future__ import annotations

from hhs_platform.privacy_inventory import CATEGORIES, inventory, inventory_markdown
from schemas import CATALOGUE


def test_every_catalogue_column_is_listed_once_with_a_category() -> None:
    tables = inventory({"bronze/raw_responses": 30})
    listed = [(c.table, c.column) for t in tables for c in t.columns]
    expected = [(name, col) for name, spec in CATALOGUE.items() for col in spec.schema.names()]
    assert sorted(listed) == sorted(expected) and len(listed) == len(set(listed))
    by = {(c.table, c.column): c.category for t in tables for c in t.columns}
    assert set(by.values()) <= set(CATEGORIES)
    third = sorted(k for k, v in by.items() if v == "third-party")
    assert ("silver/posts", "text") in third and ("silver/posts", "mentions") in third
    assert ("bronze/raw_responses", "body") in third
    assert ("silver/post_features", "mentions") in third
    assert by[("silver/accounts", "handle")] == "official"
    assert by[("gold/daily_account_metrics", "followers")] == "none"
    per = {t.table: t for t in tables}
    assert per["bronze/raw_responses"].retention == "30 days"
    assert per["silver/posts"].retention == "until deleted"
    assert "forget-person" in per["silver/posts"].deletion
    assert per["ops/deletions"].deletion.startswith("Never deleted")


def test_markdown_names_every_table() -> None:
    text = inventory_markdown()
    for name in CATALOGUE:
        assert f"## `{name}`" in text
