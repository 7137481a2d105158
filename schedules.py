"""The cron schedules (CONTRACT.md), run by the periodiq beat. Filled in by the pipelines issue."""
