"""`core.redis_client.connect`: every client notices a lost host (connect timeout, keepalive, health checks)."""

from __future__ import annotations

import socket

from core import redis_client


def options(url: str, **kwargs: object) -> dict[str, object]:
    client = redis_client.connect(url, **kwargs)
    try:
        return dict(client.connection_pool.connection_kwargs)
    finally:
        client.close()


def test_a_tcp_client_has_a_connect_timeout_keepalive_and_health_checks_but_no_reply_timeout():
    # Given a client made for a Redis over TCP
    # When its connection options are read
    made = options("redis://redis.example:6379/0")
    # Then a lost host fails a connect in seconds and a waiting connection within about half a minute
    assert made["socket_connect_timeout"] == redis_client.CONNECT_TIMEOUT
    assert made["health_check_interval"] == redis_client.HEALTH_CHECK_INTERVAL
    assert made["socket_keepalive"] is True
    keepalive = made["socket_keepalive_options"]
    assert isinstance(keepalive, dict)
    assert keepalive[socket.TCP_KEEPIDLE] == 10 and keepalive[socket.TCP_KEEPCNT] == 3
    assert keepalive[socket.TCP_USER_TIMEOUT] == redis_client.UNACKED_TIMEOUT_MS
    # And no reply timeout cuts a blocking read short
    assert made.get("socket_timeout") is None


def test_a_callers_own_timeouts_win_and_a_unix_socket_gets_no_tcp_options():
    # Given a caller with its own timeouts, and a client over a Unix socket
    own = options("redis://redis.example:6379/0", socket_connect_timeout=2.0, socket_timeout=10.0)
    unix = options("unix:///run/redis.sock?db=0")
    # Then the caller's values stand, and the Unix socket's client has no keepalive (it would be refused)
    assert own["socket_connect_timeout"] == 2.0 and own["socket_timeout"] == 10.0
    assert "socket_keepalive" not in unix and unix["socket_connect_timeout"] == redis_client.CONNECT_TIMEOUT
