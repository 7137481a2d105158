"""Cron schedules: tick times in SCHEDULE_TZ, exactly-once claims in Redis, the dispatcher."""
