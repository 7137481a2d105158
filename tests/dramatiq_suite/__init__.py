"""Dramatiq's own test suite run against our broker (`make dramatiq-suite`; docs/dramatiq-suite.md)."""
