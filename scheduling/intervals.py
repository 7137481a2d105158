"""Schedules given as an interval in seconds, written as the cron the dispatcher runs.

The dispatcher ticks once a minute, so an interval becomes the cron whose ticks are never
further apart than the interval: `*/m` minutes (an hour's last gap is shorter when m does not
divide 60), `0 */h` hours, or daily. Intervals under a minute run every minute.
"""

from __future__ import annotations


def interval_cron(seconds: int) -> str:
    """A cron expression whose ticks are at most `seconds` apart (at least a minute apart)."""
    if seconds < 1:
        raise ValueError(f"interval must be at least 1 second, got {seconds}")
    minutes = max(1, seconds // 60)
    if minutes < 60:
        return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    hours = minutes // 60
    if hours < 24:
        return "0 * * * *" if hours == 1 else f"0 */{hours} * * *"
    return "0 0 * * *"
