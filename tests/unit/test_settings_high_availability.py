"""The high-availability settings: REDIS_SENTINELS and its master name, WAIT on enqueue, RabbitMQ's queue type.

A malformed value is one line naming the variable (exit 2, a `Misconfigured`). The Sentinels'
own answers (none answers, or none knows the name: exit 4) are read by `core.redis_sentinel.diagnose`,
tested here on answers as redis-py returns them; the real processes are in tests/test_redis_sentinel.py.
"""

from __future__ import annotations

import pytest
import redis

from core.redis_sentinel import SentinelsUnreachable, UnknownSentinelMaster, diagnose
from errors import EXIT_INVALID, EXIT_UNAVAILABLE, ServiceUnavailable
from errors.drivers import UNREACHABLE, as_jobs_error
from settings import SettingsError, load_settings

SENTINELS = [("10.0.0.1", 26379), ("10.0.0.2", 26379), ("10.0.0.3", 26380)]


def test_sentinels_are_read_as_host_and_port_pairs_a_bare_host_on_sentinels_port():
    settings = load_settings(redis_sentinels=" s1:26379, s2:26380 ,s3", redis_sentinel_master="adjobs")
    assert settings.redis_sentinels == [("s1", 26379), ("s2", 26380), ("s3", 26379)]
    assert settings.redis_sentinel_master == "adjobs"


def test_by_default_there_are_no_sentinels_no_wait_and_classic_queues():
    settings = load_settings()
    assert settings.redis_sentinels == [] and settings.redis_sentinel_master is None
    assert settings.redis_enqueue_replicas == 0
    assert settings.rabbitmq_queue_type == "classic"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"redis_sentinels": "s1:sentinel"}, "setting REDIS_SENTINELS: expected host:port entries separated by commas"),
        ({"redis_sentinels": "s1:70000"}, "setting REDIS_SENTINELS: expected host:port entries"),
        ({"redis_sentinels": ":26379"}, "setting REDIS_SENTINELS: expected host:port entries"),
        ({"redis_sentinels": "s1:26379"}, "setting REDIS_SENTINEL_MASTER: required when REDIS_SENTINELS is set"),
        (
            {"redis_sentinels": "s1:26379", "redis_sentinel_master": "  "},
            "setting REDIS_SENTINEL_MASTER: required when REDIS_SENTINELS is set",
        ),
        ({"rabbitmq_queue_type": "mirrored"}, "setting RABBITMQ_QUEUE_TYPE: Input should be 'classic' or 'quorum'"),
        ({"redis_enqueue_replicas": -1}, "setting REDIS_ENQUEUE_REPLICAS: Input should be greater than or equal to 0"),
        ({"redis_enqueue_wait_ms": 0}, "setting REDIS_ENQUEUE_WAIT_MS: Input should be greater than or equal to 1"),
    ],
)
def test_a_malformed_high_availability_setting_is_one_line_naming_the_variable(overrides, expected):
    # Given a malformed value
    # When the settings are read
    with pytest.raises(SettingsError) as refused:
        load_settings(**overrides)
    # Then the one line names the variable and what is wrong, and it is a settings mistake (exit 2)
    message = str(refused.value)
    assert message.startswith(expected) and "\n" not in message, message
    assert refused.value.exit_code == EXIT_INVALID


def test_the_environment_is_read_the_same_way(monkeypatch):
    monkeypatch.setenv("REDIS_SENTINELS", "s1:1,s2:2")
    monkeypatch.setenv("REDIS_SENTINEL_MASTER", "mymaster")
    monkeypatch.setenv("RABBITMQ_QUEUE_TYPE", "quorum")
    settings = load_settings()
    assert settings.redis_sentinels == [("s1", 1), ("s2", 2)] and settings.rabbitmq_queue_type == "quorum"


def test_no_sentinel_answering_is_one_line_naming_them_and_exit_4():
    # Given every Sentinel refusing the connection, in redis-py's words
    answers = [
        redis.ConnectionError(f"Error 111 connecting to {host}:{port}. Connection refused.") for host, port in SENTINELS
    ]
    # When the failure is diagnosed
    error = diagnose("adjobs", SENTINELS, answers)  # type: ignore[arg-type]
    # Then it says no Sentinel answers, names them all and the first error, in one line; exit 4, 503
    assert isinstance(error, SentinelsUnreachable)
    assert str(error) == (
        "cannot reach any Redis Sentinel of REDIS_SENTINELS (10.0.0.1:26379, 10.0.0.2:26379, 10.0.0.3:26380); "
        "the first: Error 111 connecting to 10.0.0.1:26379. Connection refused."
    )
    assert error.exit_code == EXIT_UNAVAILABLE and error.http_status == 503


def test_an_unknown_master_name_is_one_line_naming_the_names_the_sentinels_know_and_exit_4():
    # Given two Sentinels answering with the masters they monitor, and one away
    answers = [{"cache": {}, "jobs": {}}, redis.TimeoutError("Timeout connecting to server"), {"jobs": {}}]
    # When the failure for a name none of them monitors is diagnosed
    error = diagnose("job", SENTINELS, answers)
    # Then it names the name asked for and every name they know
    assert isinstance(error, UnknownSentinelMaster)
    assert str(error) == (
        "the Redis Sentinels (10.0.0.1:26379, 10.0.0.2:26379, 10.0.0.3:26380) monitor no primary named 'job' "
        "(REDIS_SENTINEL_MASTER); they monitor: 'cache', 'jobs'"
    )
    assert error.exit_code == EXIT_UNAVAILABLE


def test_a_known_master_that_is_down_is_an_outage_not_a_mistake():
    # Given Sentinels that monitor the name but see its primary down (mid-failover)
    answers = [{"adjobs": {"is_odown": True}}, {"adjobs": {"is_sdown": True}}]
    # Then there is no set-up mistake to report: redis-py's own error (a connection error) stands
    assert diagnose("adjobs", SENTINELS, answers) is None


def test_both_mistakes_read_as_an_unreachable_server_everywhere():
    # Given either mistake
    for error in (SentinelsUnreachable("none answers"), UnknownSentinelMaster("no such name")):
        # Then code catching redis-py's connection errors catches it, and the API and CLI keep its own line
        assert isinstance(error, UNREACHABLE) and isinstance(error, ServiceUnavailable)
        assert as_jobs_error(error) is error
