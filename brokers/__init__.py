"""Broker variants: the Redis broker with per-message priority lanes."""
