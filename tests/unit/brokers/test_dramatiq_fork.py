"""Our Redis script and the Dramatiq internals we rely on match the Dramatiq release we forked (pure)."""

from __future__ import annotations

import re
from pathlib import Path

from brokers.dramatiq_fork import (
    DISPATCH_SCRIPT,
    FORKED_RELEASE,
    INTERNALS,
    UPSTREAM_DISPATCH_SHA256,
    Internal,
    fork_differences,
    installed_dispatch_script,
)


def test_the_installed_dramatiq_is_the_release_our_script_and_internals_were_forked_from():
    # Given the installed Dramatiq, When its script and private internals are compared with our record
    differences = fork_differences()
    # Then nothing differs; else each line says what changed and what to re-check
    assert differences == [], "Dramatiq differs from what brokers/ was forked from:\n" + "\n".join(differences)


def test_our_script_names_the_release_and_the_upstream_hash_it_was_forked_from():
    header = DISPATCH_SCRIPT.read_text()[:2000]
    assert f"Forked from: Dramatiq {FORKED_RELEASE}, dramatiq/brokers/redis/dispatch.lua" in header
    assert f"Upstream sha256: {UPSTREAM_DISPATCH_SHA256}" in header
    for issue in ("#412", "#424", "#508", "#553"):
        assert issue in header


def test_our_script_is_upstreams_plus_the_marked_changes_only():
    # Given our fork with each marked change taken out, When compared with upstream's lines
    ours = DISPATCH_SCRIPT.read_text()
    upstream = installed_dispatch_script().read_text().splitlines()
    # Then every upstream line is still there, in order (the changes only add or replace marked lines)
    assert len(re.findall(r"adjobs change \d", ours)) >= 6
    missing = _missing_in_order(upstream, ours.splitlines())
    replaced = {  # the upstream lines changes 2-5 replace
        '                if redis.call("hexists", queue_messages, message_id) > 0 then',
        '                    redis.call("rpush", queue_full_name, message_id)',
        '    redis.call("rpush", queue_full_name, message_id)',
        '        local message_id = redis.call("lpop", queue_full_name)',
        '        return redis.call("hmget", queue_messages, unpack(message_ids))',
        '            if redis.call("hexists", queue_messages, message_id) > 0 then',
        '                redis.call("rpush", queue_full_name, message_id)',
    }
    assert set(missing) <= replaced, f"upstream lines changed without a marked change: {set(missing) - replaced}"


def _missing_in_order(upstream: list[str], ours: list[str]) -> list[str]:
    """Upstream's non-blank lines not found in `ours` in upstream's order."""
    missing, position = [], 0
    for line in upstream:
        if not line.strip():
            continue
        try:
            position = ours.index(line, position) + 1
        except ValueError:
            missing.append(line)
    return missing


def test_a_changed_upstream_script_is_reported_with_what_to_do(tmp_path: Path):
    # Given an upstream script that differs from the one we forked by one reworded comment
    changed = tmp_path / "dispatch.lua"
    changed.write_text(installed_dispatch_script().read_text().replace("-- Moves", "-- Puts", 1))
    # When the fork is checked against it
    differences = fork_differences(script=changed, internals=())
    # Then the message names the file, the forked release and what to re-apply
    assert len(differences) == 1
    assert str(changed) in differences[0]
    assert f"Dramatiq {FORKED_RELEASE}" in differences[0]
    assert "re-apply the 'adjobs change' parts" in differences[0]


def test_a_changed_private_internal_is_reported_by_name_with_what_to_recheck():
    # Given our record of an internal whose source no longer hashes to what we recorded
    recorded = INTERNALS[0]
    stale = Internal(recorded.module, recorded.name, "0" * 64, recorded.recheck)
    # When the fork is checked
    differences = fork_differences(internals=(stale,))
    # Then it says which internal changed and what depends on it
    assert len(differences) == 1
    assert "dramatiq.brokers.redis._RedisConsumer.__next__ changed since 2.2.1" in differences[0]
    assert recorded.recheck in differences[0]


def test_a_private_internal_gone_from_dramatiq_is_reported():
    gone = Internal("dramatiq.worker", "Worker._no_such_method", "0" * 64, "what used it")
    differences = fork_differences(internals=(gone,))
    assert len(differences) == 1 and "not found" in differences[0] and "Worker._no_such_method" in differences[0]
