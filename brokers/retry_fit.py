"""A retried message made to fit the broker's size limit by trimming the traceback it carries.

Dramatiq's `Retries` re-enqueues a failed message with its traceback in the `traceback`
option (up to 30 frames, with the exception's text). A payload that fitted under the limit
(MAX_PAYLOAD_BYTES) can then be too large to retry. `fit_retry()` keeps the end of that
traceback (the exception and the innermost frames), behind a note saying how much was cut,
and drops it altogether if even that does not fit. A message still too large after that is
the caller's to refuse (`MessageTooLarge`); `middleware/bounded_retries.py` then
dead-letters the job with that reason rather than losing it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from dramatiq import Message

#: The message option Dramatiq's `Retries` writes the failed attempt's traceback to.
TRACEBACK_OPTION = "traceback"
#: What replaces the cut part of a traceback; `{cut}` is the number of characters cut.
TRIM_NOTE = "[{cut:,} characters of this traceback cut so the retry fits MAX_PAYLOAD_BYTES]\n"


def fit_retry(data: bytes, limit: int) -> bytes:
    """`data` if it is at most `limit` bytes; else the message re-encoded with its traceback
    trimmed (from the front) or dropped until it fits; else `data` unchanged, for the caller to refuse."""
    if len(data) <= limit:
        return data
    message: Message[Any] = Message.decode(data)
    traceback = message.options.get(TRACEBACK_OPTION)
    if not isinstance(traceback, str):
        return data
    keep = len(traceback)
    fitted = data
    while len(fitted) > limit and keep > 0:
        # Every character cut saves at least one byte: cut the excess plus the note's length.
        keep = max(0, keep - (len(fitted) - limit) - len(TRIM_NOTE) - 16)
        trimmed = TRIM_NOTE.format(cut=len(traceback) - keep) + traceback[len(traceback) - keep :]
        fitted = message.copy(options={TRACEBACK_OPTION: trimmed}).encode()
    if len(fitted) > limit:
        options = {key: value for key, value in message.options.items() if key != TRACEBACK_OPTION}
        fitted = dataclasses.replace(message, options=options).encode()
    return fitted if len(fitted) <= limit else data
