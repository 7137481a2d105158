"""Pipelines: compositions of jobs (groups, pipelines, completion callbacks), no business logic."""
