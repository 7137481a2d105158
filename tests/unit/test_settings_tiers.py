"""Publisher tiers and per-tenant queue figures from the environment (pure)."""

from __future__ import annotations

import pytest

from middleware.queue_limits import tenant_limit
from settings import load_settings


def test_premium_is_high_priority_and_four_times_the_limits_by_default():
    settings = load_settings()
    assert (settings.tier("premium").priority, settings.tier("premium").limit_factor) == (3, 4.0)
    assert (settings.tier("standard").priority, settings.tier("standard").limit_factor) == (None, 1.0)


def test_one_figure_of_a_tier_keeps_its_others_and_a_new_tier_may_be_named(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TIERS__PREMIUM__LIMIT_FACTOR", "2")
    monkeypatch.setenv("TIERS__GOLD__PRIORITY", "2")
    settings = load_settings()
    assert (settings.tier("premium").priority, settings.tier("premium").limit_factor) == (3, 2.0)
    assert (settings.tier("gold").priority, settings.tier("gold").limit_factor) == (2, 1.0)
    assert settings.tiers.names() == ["standard", "premium", "gold"]


def test_a_publisher_in_no_known_tier_has_the_standard_figures():
    assert load_settings().tier("platinum").name == "standard"
    assert load_settings().tier(None).name == "standard"


def test_queue_figures_per_tenant_are_settings_like_the_queues_own(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("QUEUES__DATA_EXPORT__TENANT_RATE_LIMIT", "5")
    monkeypatch.setenv("QUEUES__DATA_EXPORT__TENANT_CONCURRENCY", "1")
    figures = load_settings().queue("data-export")
    assert (figures.tenant_rate_limit, figures.tenant_rate_window, figures.tenant_concurrency) == (5, 60, 1)
    assert (figures.concurrency, figures.rate_limit) == (2, 20)  # the queue's own figures stay


@pytest.mark.parametrize(("limit", "factor", "scaled"), [(5, 4.0, 20), (1, 0.5, 1), (3, 1.5, 4), (0, 4.0, 0)])
def test_a_tiers_factor_scales_a_tenant_limit_rounded_and_at_least_one(limit: int, factor: float, scaled: int):
    assert tenant_limit(limit, factor) == scaled
