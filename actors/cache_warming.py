"""Warm the dashboard's popular queries into the cache, so the first reader does not wait."""

from __future__ import annotations

from typing import Any

from pydantic import field_validator

from actors._base import job_actor
from actors.progress import report_progress
from core.payloads import JobPayload
from db import cache


class WarmRequest(JobPayload):
    #: The keys to warm; omitted, the configured popular keys (setting CACHE_POPULAR_KEYS).
    cache_keys: list[str] | None = None
    #: Kept for callers that pass the API's option in the payload; scheduling uses the message priority.
    priority: int | None = None

    @field_validator("cache_keys")
    @classmethod
    def _known(cls, keys: list[str] | None) -> list[str] | None:
        if keys is not None:
            for key in keys:
                cache.validate_key(key)
        return keys


@job_actor(queue="cache-warming", payload=WarmRequest)
def warm_cache(request: WarmRequest) -> dict[str, Any]:
    keys = request.cache_keys if request.cache_keys is not None else cache.popular_keys()
    for done, key in enumerate(keys, start=1):
        cache.write_entry(key, cache.compute_entry(key))
        report_progress(100 * done / len(keys))
    return {"keys": len(keys)}
