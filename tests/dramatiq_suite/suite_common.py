"""The helpers Dramatiq's tests import from their `tests/common.py`, which its sdist does not ship.

Copied by `run.py` into the downloaded suite as `tests/common.py`. Written here from what the
suite's tests use of it: a worker context manager and skip marks. RabbitMQ is never reached:
the suite's RabbitMQ tests are not run.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from dramatiq import Worker
from dramatiq.threading import is_gevent_active


@contextmanager
def worker(*args: Any, **kwargs: Any) -> Iterator[Worker]:
    started = Worker(*args, **kwargs)
    try:
        started.start()
        yield started
    finally:
        started.stop()


skip_in_ci = pytest.mark.skipif(os.getenv("GITHUB_ACTION") is not None, reason="test skipped in CI")
skip_on_windows = pytest.mark.skipif(platform.system() == "Windows", reason="test skipped on Windows")
skip_on_pypy = pytest.mark.skipif(platform.python_implementation() == "PyPy", reason="no time limits on PyPy")
skip_with_gevent = pytest.mark.skipif(is_gevent_active(), reason="behaviour with gevent is different")
skip_without_gevent = pytest.mark.skipif(not is_gevent_active(), reason="behaviour without gevent is different")
skip_unless_rabbit_mq = pytest.mark.skip(reason="RabbitMQ tests are not part of this run")
RABBITMQ_CREDENTIALS = None
