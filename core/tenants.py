"""Tenants: whose job a message is, for fair turns and per-tenant limits (`options["tenant"]`).

A job's tenant is the text in its `tenant` option: set by `job_actor` from a payload field for
publisher-scoped actors (`tenant_field="publisher_id"`), or given by a sender (`tenant=`). A
message without one belongs to its queue's shared tenant, `SHARED` (""). Pure: no Redis.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The tenant of messages that name none.
SHARED = ""
#: Longest tenant accepted at send (a publisher id is at most 64 characters).
MAX_TENANT_LENGTH = 128


def tenant_of(options: Mapping[str, Any]) -> str:
    """The tenant of a message with these options (as dispatch.lua's `tenant_of_message`): its
    `tenant` when that is a string, else the shared tenant."""
    tenant = options.get("tenant")
    return tenant if isinstance(tenant, str) else SHARED


def checked_tenant(value: Any) -> str:
    """`value` as a tenant, or ValueError saying why not: 1-128 printable characters, no `@` or `#`
    (the broker's key separators) and no whitespace at either end."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError(f"options.tenant: must be text, got {type(value).__name__}")
    tenant = str(value)
    if not tenant or len(tenant) > MAX_TENANT_LENGTH:
        raise ValueError(f"options.tenant: must be 1-{MAX_TENANT_LENGTH} characters, got {len(tenant)}")
    if tenant != tenant.strip() or not tenant.isprintable() or "@" in tenant or "#" in tenant:
        raise ValueError(f"options.tenant: {tenant!r} has spaces at an end, control characters, '@' or '#'")
    return tenant
