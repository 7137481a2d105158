"""Scale-out across three network hosts, and losing one of them.

Host 1 runs Redis and PostgreSQL, hosts 2 and 3 run `dramatiq actors` workers, each its own
Linux network namespace on one bridge (`netns.py`). 5,000 jobs are sent; halfway through,
every process of host 2 is killed with SIGKILL. Every job must still complete: the messages
host 2 held (running and prefetched) sit in its Redis ack set until its heartbeat is older
than the broker's heartbeat timeout (60 s), then go back to their queue for host 3.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.chaos import host_servers, netns
from tests.chaos.scale_out_jobs import CREATE_TABLE, QUEUE, TABLE
from tests.support.processes import BIN, ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

JOBS = 5000
#: Each job sleeps this long, so the run lasts long enough to kill a host in the middle of it.
WORK_MS = 50
#: After the kill: the broker's heartbeat timeout (60 s), then maintenance, which runs on a
#: random 0.1 % of broker commands, must come round; then host 3 runs what host 2 held.
RECOVERY_TIMEOUT = 480


@dataclass
class Cluster:
    lab: netns.Lab
    redis_url: str
    database_url: str  # libpq form
    workdir: Path

    @property
    def data(self) -> netns.Host:
        return self.lab.hosts[0]

    def env(self, **extra: str) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key not in ("BROKER_URL", "PYTEST_CURRENT_TEST")}
        env.update(
            REDIS_URL=self.redis_url,
            DATABASE_URL=self.database_url.replace("postgresql://", "postgresql+psycopg://", 1),
            **extra,
        )
        return env

    def query(self, sql: str) -> object:
        """One value of `sql`, asked from the data host (the test's own namespace cannot reach the lab)."""
        code = (
            "import json, psycopg\n"
            f"with psycopg.connect({self.database_url!r}) as c:\n"
            f"    print(json.dumps(c.execute({sql!r}).fetchone()[0], default=str))\n"
        )
        result = self.data.run([sys.executable, "-c", code], timeout=60)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def orphaned_messages(self, silent_ms: int = 3000) -> int:
        """Messages in the Redis ack sets of broker connections silent for `silent_ms`: a dead host's."""
        code = (
            "import redis, time\n"
            f"r = redis.Redis.from_url({self.redis_url!r})\n"
            "now = time.time() * 1000\n"
            "beats = r.zrange('dramatiq:__heartbeats__', 0, -1, withscores=True)\n"
            f"dead = [w.decode() for w, at in beats if now - at > {silent_ms}]\n"
            "print(sum(r.scard(k) for w in dead for k in r.keys(f'dramatiq:__acks__.{w}.*')))\n"
        )
        result = self.data.run([sys.executable, "-c", code], timeout=60)
        assert result.returncode == 0, result.stderr
        return int(result.stdout)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    try:
        lab = netns.Lab(3).__enter__()
    except netns.NamespacesUnavailable as error:
        pytest.skip(f"network namespaces cannot be made here: {error}")
    stop_postgres: list[str] = []
    postgres_dir: Path | None = None
    try:
        redis_dir = tmp_path / "redis"
        redis_dir.mkdir()
        # Not under pytest's tmp_path: the postgres user must be able to reach it.
        postgres_dir = Path(tempfile.mkdtemp(prefix="adjobs-scale-out-pg-"))
        try:
            redis_url = host_servers.start_redis(lab.hosts[0], redis_dir)
            admin_url, stop_postgres = host_servers.start_postgres(lab.hosts[0], postgres_dir)
        except host_servers.BinariesMissing as error:
            pytest.skip(f"cannot start the data host's servers: {error}")
        database_url = admin_url.rsplit("/", 1)[0] + "/adjobs"
        yield Cluster(lab, redis_url, database_url, tmp_path)
    finally:
        if stop_postgres:
            subprocess.run(stop_postgres, capture_output=True, check=False, timeout=60)
        lab.close()
        if postgres_dir is not None:
            shutil.rmtree(postgres_dir, ignore_errors=True)


def _start_workers(cluster: Cluster, host: netns.Host, name: str) -> subprocess.Popen[bytes]:
    log = open(cluster.workdir / f"worker-{name}.log", "wb")  # noqa: SIM115  (closed with the process)
    return host.popen(
        [str(BIN / "dramatiq"), "actors", "tests.chaos.scale_out_jobs", "--processes", "2", "--threads", "4"],
        cwd=ROOT,
        env=cluster.env(SCALE_OUT_HOST=name),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _wait_for(cluster: Cluster, sql: str, done: object, timeout: float, interval: float = 1.0) -> tuple[object, float]:
    started = time.monotonic()
    while True:
        value = cluster.query(sql)
        if done(value) if callable(done) else value == done:
            return value, time.monotonic() - started
        if time.monotonic() - started > timeout:
            return value, time.monotonic() - started
        time.sleep(interval)


def test_every_job_completes_when_one_of_two_worker_hosts_is_killed_halfway(cluster: Cluster):
    data, host2, host3 = cluster.lab.hosts
    # Given the schema, migrated from a worker host as the migrate service does
    created = data.run(
        [
            sys.executable,
            "-c",
            f"import psycopg\npsycopg.connect({cluster.database_url.rsplit('/', 1)[0] + '/postgres'!r},"
            " autocommit=True).execute('CREATE DATABASE adjobs')",
        ]
    )
    assert created.returncode == 0, created.stderr
    migrated = host2.run([str(BIN / "jobsctl"), "migrate"], cwd=ROOT, env=cluster.env())
    assert migrated.returncode == 0, migrated.stderr + migrated.stdout
    table = data.run(
        [
            sys.executable,
            "-c",
            f"import psycopg\npsycopg.connect({cluster.database_url!r}, autocommit=True).execute({CREATE_TABLE!r})",
        ]
    )
    assert table.returncode == 0, table.stderr
    # And workers on hosts 2 and 3, reaching Redis and PostgreSQL on host 1 over the bridge
    workers = [_start_workers(cluster, host2, "h2"), _start_workers(cluster, host3, "h3")]

    # When a service on host 1 sends 5,000 jobs (in the background: the kill is timed by jobs done, not by
    # the sending, which on a loaded machine can take as long as running them)
    producer = data.popen(
        [
            sys.executable,
            "-c",
            "import actors\nfrom runtime.store_buffer import get_buffer\n"
            "from tests.chaos.scale_out_jobs import record_delivery\n"
            f"for n in range({JOBS}):\n    record_delivery.send(n=n, work_ms={WORK_MS})\n"
            "get_buffer().flush()\n",
        ],
        cwd=ROOT,
        env=cluster.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    # And every process of host 2 is killed with SIGKILL as soon as half the jobs are done (polled every
    # 0.1 s; the other half, at WORK_MS each on 16 threads, takes seconds more on any machine)
    halfway, _ = _wait_for(
        cluster, f"SELECT count(*) FROM {TABLE}", lambda n: n >= JOBS // 2, timeout=300, interval=0.1
    )
    by_host_before = cluster.query(
        f"SELECT json_object_agg(host, c) FROM (SELECT host, count(*) c FROM {TABLE} GROUP BY host) t"
    )
    killed = host2.kill_all()
    killed_at = time.monotonic()
    _, producer_errors = producer.communicate(timeout=300)
    assert producer.returncode == 0, producer_errors.decode(errors="replace")[-3000:]
    workers[0].wait(timeout=30)
    time.sleep(5)  # host 2's broker heartbeats age; host 3's keep being refreshed by its fetches
    orphans = cluster.orphaned_messages()

    # Then every job completes on host 3, host 2's share included
    finished, waited = _wait_for(cluster, f"SELECT count(*) FROM {TABLE}", JOBS, timeout=RECOVERY_TIMEOUT, interval=2)
    recovery = time.monotonic() - killed_at
    summary = cluster.query(
        f"SELECT json_build_object('rows', count(*), 'distinct_n', count(DISTINCT n), 'min_n', min(n), 'max_n', max(n),"
        f" 'redelivered', count(*) FILTER (WHERE runs > 1), 'h2', count(*) FILTER (WHERE host = 'h2'),"
        f" 'h3', count(*) FILTER (WHERE host = 'h3')) FROM {TABLE}"
    )
    time.sleep(1)  # host 3's job-store buffer flushes every 0.2 s
    store = cluster.query(
        "SELECT json_object_agg(state, c) FROM"
        f" (SELECT state, count(*) c FROM jobs WHERE queue = '{QUEUE}' GROUP BY state) t"
    )
    print(
        f"\nscale-out: killed {len(killed)} processes on host 2 at {halfway} of {JOBS} done "
        f"(before: {by_host_before}), {orphans} messages in its ack sets; {recovery:.0f} s later {finished} done; "
        f"rows {summary}; job store {store}"
    )
    assert workers[1].poll() is None, "host 3's workers died"
    assert len(killed) >= 3  # the dramatiq main process and its two worker processes
    assert by_host_before.get("h2", 0) > 0 and by_host_before.get("h3", 0) > 0  # both hosts worked
    assert halfway < JOBS * 3 // 4  # the kill landed mid-run, with a quarter of the jobs or more still to run
    assert orphans > 0  # host 2 died holding messages: the recovery path was exercised
    assert finished == JOBS, f"{JOBS - finished} jobs never completed {waited:.0f} s after the kill"
    assert summary["distinct_n"] == JOBS and summary["min_n"] == 0 and summary["max_n"] == JOBS - 1
    assert summary["h3"] > by_host_before["h3"]  # host 3 took over
