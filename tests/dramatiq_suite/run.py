"""`make dramatiq-suite`: Dramatiq's own tests, of the installed (pinned) version, run against our broker.

The suite is not kept in this repository: its sdist is fetched from PyPI at run time
(`pip download dramatiq==<installed> --no-binary :all: --no-deps`) into a temporary folder,
and only its `tests/` are unpacked (not its `dramatiq/` sources, which would shadow the
installed package). That sdist ships the test modules but not their `conftest.py` and
`common.py`: ours (`suite_conftest.py`, `suite_common.py`) take their place, and make the
suite's `redis_broker`, and its `stub_broker` for the generic tests, our PriorityRedisBroker.

Usage: `python -m tests.dramatiq_suite.run [pytest arguments]`, e.g. `-k requeue` or `-x`.
Exit status: pytest's. docs/dramatiq-suite.md lists the tests expected to fail, and why.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: The suite's Redis tests, then its broker-independent tests (run on our Redis broker).
REDIS_TESTS = ("test_redis.py",)
GENERIC_TESTS = (
    "test_actors.py",
    "test_callbacks.py",
    "test_composition.py",
    "test_generic_actors.py",
    "test_messages.py",
    "test_worker.py",
    "test_results.py",
    "test_barrier.py",
    "test_concurrent_rate_limiter.py",
    "test_window_rate_limiter.py",
    "test_bucket_rate_limiter.py",
    "test_encoders.py",
)
#: The sdist (sources and tests), not a wheel; only Dramatiq itself.
PIP_OPTIONS = ("--no-binary", ":all:", "--no-deps", "--quiet")
#: Seconds a single pip download may take before the run gives up.
DOWNLOAD_TIMEOUT = 300


def download_suite(version: str, into: Path) -> Path:
    """Fetch Dramatiq's sdist of `version` from PyPI and unpack its tests into `into`/tests."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", f"dramatiq=={version}", *PIP_OPTIONS, "-d", str(into)],
        check=True,
        timeout=DOWNLOAD_TIMEOUT,
    )
    (archive,) = into.glob(f"dramatiq-{version}.tar.gz")
    prefix = f"dramatiq-{version}/tests/"
    with tarfile.open(archive) as sdist:
        members = [member for member in sdist.getmembers() if member.name.startswith(prefix) and member.isfile()]
        if not members:
            raise SystemExit(f"dramatiq {version}'s sdist holds no tests/ folder: nothing to run")
        for member in members:
            member.name = member.name[len(f"dramatiq-{version}/") :]
        sdist.extractall(into, members=members, filter="data")
    tests = into / "tests"
    (tests / "__init__.py").touch()
    shutil.copy(HERE / "suite_conftest.py", tests / "conftest.py")
    shutil.copy(HERE / "suite_common.py", tests / "common.py")
    (into / "pytest.ini").write_text("[pytest]\n")  # none of this repository's pytest settings
    return tests


def main(argv: list[str]) -> int:
    version = importlib.metadata.version("dramatiq")
    folder = Path(tempfile.mkdtemp(prefix=f"dramatiq-{version}-suite-"))
    try:
        tests = download_suite(version, folder)
        files = [f"tests/{name}" for name in (*REDIS_TESTS, *GENERIC_TESTS) if (tests / name).exists()]
        print(f"Dramatiq {version}'s suite from PyPI, against PriorityRedisBroker: {' '.join(files)}", flush=True)
        environment = {**os.environ, "DRAMATIQ_SUITE_GENERIC": "redis"}
        # Native tracebacks: pytest's own parse the test's source, which CPython 3.11.7 can crash on
        # ("AST constructor recursion depth mismatch") while the suite's worker threads run.
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfE", "--tb=native", *files, *argv]
        return subprocess.run(command, cwd=folder, env=environment, check=False).returncode
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
