"""A message's tenant and what a send may name as one (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from core.tenants import SHARED, checked_tenant, tenant_of


@pytest.mark.parametrize(
    ("options", "tenant"), [({"tenant": "pub-1"}, "pub-1"), ({}, SHARED), ({"tenant": None}, SHARED)]
)
def test_the_tenant_of_a_message_is_its_tenant_option_or_the_shared_one(options: dict[str, Any], tenant: str):
    assert tenant_of(options) == tenant


@pytest.mark.parametrize("given", [7, ["pub"], {"a": 1}, True])
def test_a_tenant_that_is_not_text_is_the_shared_one_for_the_broker(given: Any):
    # as dispatch.lua's tenant_of_message: only a string names a tenant
    assert tenant_of({"tenant": given}) == SHARED


def test_a_send_may_name_a_publisher_or_any_short_key():
    assert checked_tenant("pub-42") == "pub-42"
    assert checked_tenant(42) == "42"
    assert checked_tenant("a|b c") == "a|b c"


@pytest.mark.parametrize("bad", ["", " pub", "pub\n", "x" * 129, "a@b", "a#b", "tab\there", None, 1.5, True])
def test_a_tenant_the_broker_keys_could_not_hold_is_refused_with_the_reason(bad: Any):
    with pytest.raises(ValueError, match=r"options\.tenant"):
        checked_tenant(bad)
