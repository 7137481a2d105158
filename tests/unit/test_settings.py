"""Per-queue figures from the environment: one figure changed, the queue's others kept."""

from __future__ import annotations

from settings import load_settings


def test_one_queue_figure_from_the_environment_keeps_the_others(monkeypatch):
    monkeypatch.setenv("QUEUES__DATA_EXPORT__RATE_LIMIT", "40")
    monkeypatch.setenv("QUEUES__CLEANUP__TIME_LIMIT", "60000")
    settings = load_settings()
    export = settings.queue("data-export")
    assert (export.rate_limit, export.concurrency, export.time_limit) == (40, 2, 3_600_000)
    cleanup = settings.queue("cleanup")
    assert (cleanup.time_limit, cleanup.concurrency, cleanup.max_attempts) == (60_000, 1, 1)
    assert settings.queue("analytics-aggregation").concurrency == 3


def test_a_queue_outside_the_contract_gets_its_figures_from_the_environment(monkeypatch):
    monkeypatch.setenv("QUEUES__LIMITS_PROBE__CONCURRENCY", "4")
    assert load_settings().queue("limits-probe").concurrency == 4
    assert load_settings().queue("some-other-queue").concurrency == 0
