"""A retry over the size limit is made to fit by trimming the traceback it carries, keeping its end."""

from __future__ import annotations

from dramatiq import Message

from brokers.retry_fit import fit_retry

TRACEBACK = "Traceback (most recent call last):\n" + "  frame\n" * 2000 + "RuntimeError: the last line\n"


def _retry(padding: int) -> Message[object]:
    return Message(
        queue_name="test-jobs",
        actor_name="echo",
        args=(),
        kwargs={"padding": "p" * padding},
        options={"retries": 1, "traceback": TRACEBACK},
    )


def test_a_retry_over_the_limit_by_its_traceback_fits_with_the_tracebacks_end_kept():
    # Given a retry whose traceback takes it 10,000 bytes over the limit
    data = _retry(1000).encode()
    limit = len(data) - 10_000
    # When it is fitted
    fitted = fit_retry(data, limit)
    # Then it fits, and its traceback keeps the last lines behind a note of what was cut
    assert len(fitted) <= limit
    traceback = Message.decode(fitted).options["traceback"]
    assert traceback.startswith("[") and "cut so the retry fits MAX_PAYLOAD_BYTES" in traceback
    assert traceback.endswith("RuntimeError: the last line\n")
    assert Message.decode(fitted).kwargs == {"padding": "p" * 1000}


def test_a_retry_too_large_even_without_its_traceback_is_left_for_the_broker_to_refuse():
    # Given a retry whose payload alone is over the limit
    data = _retry(50_000).encode()
    # When it is fitted, then it comes back unchanged (the broker refuses it: MessageTooLarge)
    assert fit_retry(data, 40_000) == data


def test_a_message_within_the_limit_is_left_as_it_is():
    data = _retry(10).encode()
    assert fit_retry(data, len(data)) is data
