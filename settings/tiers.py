"""Publisher tiers: the default priority and the limit factor of each (`publishers.tier`).

`TIERS__PREMIUM__PRIORITY=3` makes a premium publisher's jobs HIGH unless a send names its own
priority; `TIERS__PREMIUM__LIMIT_FACTOR=4` multiplies the per-tenant limits of a queue
(`QUEUES__<QUEUE>__TENANT_RATE_LIMIT`, `...__TENANT_CONCURRENCY`) for its jobs. Any other tier name
may be given the same way (`TIERS__GOLD__PRIORITY=2`); a tier without figures has the standard ones.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: The tier of a publisher without a row, or with the default.
STANDARD = "standard"


class TierSettings(BaseModel):
    """The figures of one tier: `priority` None keeps the send's (NORMAL by default)."""

    priority: int | None = Field(default=None, ge=1, le=10)
    limit_factor: float = Field(default=1.0, gt=0)


#: The tiers a fresh install has.
TIER_DEFAULTS: dict[str, dict[str, Any]] = {
    "standard": {},
    "premium": {"priority": 3, "limit_factor": 4.0},
}


class ResolvedTier(BaseModel):
    name: str
    priority: int | None
    limit_factor: float


class TiersSettings(BaseModel):
    """Every tier's figures; setting one figure of a tier keeps its others."""

    model_config = ConfigDict(extra="allow")

    standard: TierSettings = TierSettings(**TIER_DEFAULTS["standard"])
    premium: TierSettings = TierSettings(**TIER_DEFAULTS["premium"])

    @model_validator(mode="before")
    @classmethod
    def _keep_the_other_figures(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        merged = {str(key).lower(): value for key, value in data.items()}
        for name, defaults in TIER_DEFAULTS.items():
            given = merged.get(name)
            if isinstance(given, dict):
                merged[name] = {**defaults, **given}
        for name, given in merged.items():
            if name not in TIER_DEFAULTS and isinstance(given, dict):
                merged[name] = TierSettings.model_validate(given)
        return merged

    def names(self) -> list[str]:
        return [*TIER_DEFAULTS, *sorted(set(self.model_extra or {}) - set(TIER_DEFAULTS))]

    def resolve(self, name: str | None) -> ResolvedTier:
        key = (name or STANDARD).lower()
        figures = getattr(self, key, None) if key in TIER_DEFAULTS else (self.model_extra or {}).get(key)
        if not isinstance(figures, TierSettings):
            key, figures = STANDARD, self.standard
        return ResolvedTier(name=key, priority=figures.priority, limit_factor=figures.limit_factor)
