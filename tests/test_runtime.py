"""The process-wide tuning every task applies to the worker it runs on."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from hhs_platform.runtime import prepare_worker, tune_gc
from hhs_platform.settings import Settings


@pytest.fixture
def saved_gc() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)


def test_tune_gc_sets_the_youngest_threshold_and_keeps_the_older_ones(saved_gc) -> None:
    _, older, oldest = saved_gc
    tune_gc(50_000)
    assert gc.get_threshold() == (50_000, older, oldest)
    tune_gc(50_000)  # idempotent: every task calls it
    assert gc.get_threshold() == (50_000, older, oldest)
    tune_gc(0)  # 0 leaves what is set
    assert gc.get_threshold() == (50_000, older, oldest)


def test_the_threshold_is_a_setting_read_by_each_task(saved_gc, monkeypatch) -> None:
    assert Settings(_env_file=None).gc_threshold == 50_000  # type: ignore[call-arg]
    monkeypatch.setenv("HHS_GC_THRESHOLD", "2500")
    settings = prepare_worker()
    assert settings.gc_threshold == 2500
    assert gc.get_threshold()[0] == 2500
    monkeypatch.setenv("HHS_GC_THRESHOLD", "-1")
    with pytest.raises(ValueError, match="gc_threshold"):
        Settings(_env_file=None)  # type: ignore[call-arg]
