"""Dramatiq's `Message ... was skipped.` line: a debug line for a held job, a warning for any other skip."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from middleware.holds import SKIPPED, WORKER_LOGGER, QuietHolds, quiet_holds


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def worker_log() -> Iterator[tuple[logging.Logger, Capture]]:
    """Dramatiq's worker thread logger with `quiet_holds()` in place and a handler that keeps every record."""
    logger = logging.getLogger(WORKER_LOGGER)
    capture, level = Capture(), logger.level
    logger.addHandler(capture)
    quiet_holds()
    quiet_holds()  # idempotent
    try:
        yield logger, capture
    finally:
        logger.removeHandler(capture)
        logger.setLevel(level)


def test_the_filter_is_put_in_place_once(worker_log):
    logger, _ = worker_log
    assert len([f for f in logger.filters if isinstance(f, QuietHolds)]) == 1


def test_a_held_jobs_skip_line_is_dropped_at_info_level(worker_log):
    # Given a worker logging at INFO, as `dramatiq` does without -v
    logger, capture = worker_log
    logger.setLevel(logging.INFO)
    # When Dramatiq logs the skip of a held job
    logger.warning(SKIPPED, SimpleNamespace(_held=True))
    # Then nothing is written
    assert capture.records == []


def test_a_held_jobs_skip_line_is_a_debug_line_when_debug_is_on(worker_log):
    logger, capture = worker_log
    logger.setLevel(logging.DEBUG)
    logger.warning(SKIPPED, SimpleNamespace(_held=True))
    assert [(record.levelno, record.levelname) for record in capture.records] == [(logging.DEBUG, "DEBUG")]


def test_any_other_skip_stays_a_warning(worker_log):
    # Given a skip that is no hold (a middleware refusing a message)
    logger, capture = worker_log
    logger.setLevel(logging.INFO)
    logger.warning(SKIPPED, SimpleNamespace())
    logger.warning("Something else %s.", SimpleNamespace(_held=True))
    # Then both stay warnings
    assert [record.levelno for record in capture.records] == [logging.WARNING, logging.WARNING]
