"""Failures and observability: Sentry events, metrics, alerts, health, heartbeats, structured logs."""
