"""The arithmetic of the queue history (`db.queue_history`): duration histograms, p95, folding buckets into points.

Durations are kept per bucket as an exact p95 (nearest rank: the value at position ceil(0.95 n) of
the sorted durations, what PostgreSQL's `percentile_disc(0.95)` picks) and as a histogram with
bounds `BASE_MS * RATIO**i`. A span made of several buckets (an hour, a chart's 15-minute point,
several queues) gets its p95 from the added histograms: the upper bound of the bucket that holds
the rank, capped at the longest duration, so at most 9 % above the exact figure; exact again when
one bucket holds every duration of the span.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

#: Duration histogram: bucket i holds durations in (BASE_MS * RATIO**(i-1), BASE_MS * RATIO**i] ms;
#: bucket 0 everything up to BASE_MS, the last one everything above BASE_MS * RATIO**(TOP-1) (70 minutes).
BASE_MS = 1.0
RATIO = 2 ** (1 / 8)
TOP = 176
#: The percentile every p95 here is.
QUANTILE = 0.95
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def bucket_index(duration_ms: float) -> int:
    """The histogram bucket of a duration (`db.queue_history` computes the same in SQL)."""
    if duration_ms <= BASE_MS:
        return 0
    return min(TOP, max(0, math.ceil(math.log(duration_ms / BASE_MS) / math.log(RATIO))))


def bucket_bound(index: int) -> float:
    """The upper bound of a bucket in ms (infinite for the last)."""
    return math.inf if index >= TOP else BASE_MS * RATIO**index


def nearest_rank(count: int) -> int:
    """The 1-based position of the p95 among `count` sorted values."""
    return max(1, math.ceil(QUANTILE * count))


def histogram_p95(histogram: Mapping[int, int], max_ms: float | None) -> float | None:
    """The p95 a histogram allows: the upper bound of the bucket holding the rank, at most the longest duration."""
    total = sum(histogram.values())
    if total == 0:
        return None
    rank, seen = nearest_rank(total), 0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            bound = bucket_bound(index)
            return min(bound, max_ms) if max_ms is not None else bound
    return max_ms  # not reached: the counts add up to `total`


@dataclass(frozen=True)
class Depth:
    """The broker's counts of one queue when sampled."""

    depth: int
    delayed: int
    dead_letters: int


@dataclass
class Figures:
    """One queue's figures over a span (a minute, an hour, a chart's point), or several queues' summed."""

    completed: int = 0
    retried: int = 0
    dead: int = 0
    timed: int = 0  # completed jobs with a duration
    total_ms: float = 0.0
    max_ms: float | None = None
    p95_ms: float | None = None
    histogram: dict[int, int] = field(default_factory=dict)
    depth: int | None = None
    delayed: int | None = None
    dead_letters: int | None = None
    sampled_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Figures:
        return cls(
            completed=int(row["completed"]),
            retried=int(row["retried"]),
            dead=int(row["dead"]),
            timed=int(row["timed"]),
            total_ms=float(row["total_ms"]),
            max_ms=row["max_ms"],
            p95_ms=row["p95_ms"],
            histogram={int(index): int(count) for index, count in (row["histogram"] or {}).items()},
            depth=row["depth"],
            delayed=row["delayed"],
            dead_letters=row["dead_letters"],
            sampled_at=row["sampled_at"],
        )

    def sample(self, depth: Depth, at: datetime) -> None:
        self.depth, self.delayed, self.dead_letters, self.sampled_at = (
            depth.depth,
            depth.delayed,
            depth.dead_letters,
            at,
        )


def combine(parts: Sequence[Figures], *, add_depths: bool = False) -> Figures:
    """One queue's consecutive spans, oldest first, as one (the last depth sample stands); with `add_depths`,
    several queues over one span (their samples added up)."""
    timed_parts = [part for part in parts if part.timed]
    histogram: dict[int, int] = {}
    for part in timed_parts:
        for index, count in part.histogram.items():
            histogram[index] = histogram.get(index, 0) + count
    maxima = [part.max_ms for part in timed_parts if part.max_ms is not None]
    max_ms = max(maxima) if maxima else None
    merged = Figures(
        completed=sum(part.completed for part in parts),
        retried=sum(part.retried for part in parts),
        dead=sum(part.dead for part in parts),
        timed=sum(part.timed for part in parts),
        total_ms=sum(part.total_ms for part in parts),
        max_ms=max_ms,
        p95_ms=timed_parts[0].p95_ms if len(timed_parts) == 1 else histogram_p95(histogram, max_ms),
        histogram=histogram,
    )
    sampled = [part for part in parts if part.depth is not None]
    if add_depths and sampled:
        merged.sample(
            Depth(
                sum(part.depth or 0 for part in sampled),
                sum(part.delayed or 0 for part in sampled),
                sum(part.dead_letters or 0 for part in sampled),
            ),
            max(part.sampled_at or datetime.min.replace(tzinfo=UTC) for part in sampled),
        )
    elif sampled:
        last = sampled[-1]
        merged.depth, merged.delayed, merged.dead_letters = last.depth, last.delayed, last.dead_letters
        merged.sampled_at = last.sampled_at
    return merged


# Charts' ranges ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """A chart's range: history rows of `resolution` folded into `points` points of `step` each."""

    name: str
    resolution: str
    step: timedelta
    points: int


#: The ranges `GET /api/v1/queues/history?range=` answers.
SPANS = {
    "1h": Span("1h", "minute", MINUTE, 60),
    "24h": Span("24h", "minute", timedelta(minutes=15), 96),
    "7d": Span("7d", "hour", HOUR, 168),
}


def window(span: Span, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of a range that ends with the step holding `now` (steps counted from the epoch, in UTC)."""
    step = int(span.step.total_seconds())
    end = datetime.fromtimestamp((int(now.timestamp()) // step + 1) * step, UTC)
    return end - span.points * span.step, end


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def point(at: datetime, figures: Figures) -> dict[str, Any]:
    """A chart's point as the API answers it."""
    return {
        "at": at.isoformat(),
        "completed": figures.completed,
        "failed": figures.retried + figures.dead,
        "retried": figures.retried,
        "dead": figures.dead,
        "depth": figures.depth,
        "delayed": figures.delayed,
        "deadLetters": figures.dead_letters,
        "p95Ms": _ms(figures.p95_ms),
        "avgMs": _ms(figures.total_ms / figures.timed) if figures.timed else None,
    }


def series(span: Span, start: datetime, rows: Sequence[Mapping[str, Any]], queues: Sequence[str]) -> dict[str, Any]:
    """History rows (oldest first) folded into a point per step for each queue, and their sum (`points`)."""
    slots: dict[str, list[list[Figures]]] = {queue: [[] for _ in range(span.points)] for queue in queues}
    for row in rows:
        position = int((row["bucket_start"] - start) / span.step)
        if row["queue"] in slots and 0 <= position < span.points:
            slots[row["queue"]][position].append(Figures.from_row(row))
    per_queue = {queue: [combine(parts) for parts in slots[queue]] for queue in queues}
    totals = [combine([per_queue[queue][i] for queue in queues], add_depths=True) for i in range(span.points)]
    times = [start + i * span.step for i in range(span.points)]
    return {
        "range": span.name,
        "resolution": span.resolution,
        "stepSeconds": int(span.step.total_seconds()),
        "start": start.isoformat(),
        "end": (start + span.points * span.step).isoformat(),
        "queues": {queue: [point(at, f) for at, f in zip(times, per_queue[queue], strict=True)] for queue in queues},
        "points": [point(at, f) for at, f in zip(times, totals, strict=True)],
    }
