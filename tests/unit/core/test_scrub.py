"""The scrubber: linear in its input (a fuzzer feeds it 1 MB of key-like words), and each kind of secret it removes.

Pure logic: no server is needed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from core.scrub import FILTERED, is_secret_key, scrub, scrub_text
from settings import Settings, get_settings, load_settings, use_settings

#: What the fuzzer builds its strings from: key-like words, quotes, separators, escapes, URL pieces.
PIECES = ("token", "password", "secret", "api_key", "access_key", "api-key", "auth", "Authorization", "Bearer",
          "passwd", "dsn", "x", "AB", "'", '"', "\\", "=", ":", " ", "  ", ",", ";", "&", "\n", "\t", "-", "_", "{",
          "}", "(", ")", "[", "]", "://", "@", "/", "?", "#", ".")  # fmt: skip
#: The fuzzer's strings are this long (1 MB).
MEGABYTE = 1_000_000


@settings(max_examples=8, deadline=None)
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=40))
@example(["token"])  # the case: 3,200 characters of it took 68 s
@example(["token", "="])
@example(["password", "'"])
@example(["a", ".", "://"])
@pytest.mark.timeout(120)
def test_scrubbing_a_megabyte_of_any_mix_of_key_like_words_takes_well_under_a_second(unit: list[str]):
    # Given a 1 MB string repeating the mix
    piece = "".join(unit)
    text = (piece * (MEGABYTE // len(piece) + 1))[:MEGABYTE]
    # When it is scrubbed
    started = time.perf_counter()
    scrub_text(text)
    # Then it took less than a second
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("aws access_key=AKIA5EXAMPLE and more", "AKIA5EXAMPLE"),
        ("AWS_ACCESS_KEY: AKIA6EXAMPLE", "AKIA6EXAMPLE"),
        ('headers {"api-key": "k-91c2"}', "k-91c2"),
        ("X-Api-Key=k-77aa", "k-77aa"),
        ("GET /feed?auth=q-33ab&page=2", "q-33ab"),
        ("basicAuth: q-44cd", "q-44cd"),
        ("connecting to redis://admin:r-55ef@cache:6379/0", "r-55ef"),
        ("dsn postgresql+psycopg://app:p%40ss-66@db/app", "p%40ss-66"),
        ("smtps://mailer:p@ss-w0rd@smtp.example.com", "p@ss-w0rd"),
        # both quote characters inside the password, as repr and JSON write it
        (repr({"password": 'it\'s "q-88" ok'}), "q-88"),
        ('{"password": "it\'s \\"q-99\\" ok"}', "q-99"),
    ],
)
def test_each_kind_of_secret_leaves_the_text(text: str, secret: str):
    assert secret not in scrub_text(text)


def test_a_secret_key_loses_only_its_value_and_ordinary_words_stay():
    assert scrub_text("access_key=AKIA5 region=eu") == f"access_key={FILTERED} region=eu"
    assert scrub_text("author=Ann authority: high") == "author=Ann authority: high"
    assert scrub_text("redis://cache:6379/0 is up") == "redis://cache:6379/0 is up"
    assert scrub_text("redis://u:pw@cache:6379/0") == "redis://***@cache:6379/0"


def test_dict_keys_with_access_key_api_key_and_auth_are_secret():
    assert all(is_secret_key(key) for key in ("access_key", "AWS_ACCESS_KEY_ID", "api-key", "X-Api-Key", "auth"))
    assert not any(is_secret_key(key) for key in ("author", "authority", "publisher_id", "keyboard"))
    assert scrub({"api-key": "k", "auth": "a", "author": "Ann"}) == {"api-key": FILTERED, "auth": FILTERED,
                                                                      "author": "Ann"}  # fmt: skip


@pytest.fixture
def secret_settings() -> Iterator[Settings]:
    previous = get_settings()
    settings = load_settings(
        database_url="postgres://app:db-7f3a-secret@db/app",
        smtp_url="smtp://mailer:smtp-2b9c-secret@mail:25",
        alert_webhook_url="https://hooks.example.com/services/hook-4d1e-secret?key=key-8e6f-secret",
        api_admin_tokens="admin-5c0b-secret",
    )
    use_settings(settings)
    yield settings
    use_settings(previous)


def test_the_settings_secrets_leave_any_text_by_value(secret_settings: Settings):
    # Given text that holds the settings' secrets where no key names them
    text = (
        "login('mailer', 'smtp-2b9c-secret') failed; token list ['admin-5c0b-secret'];"
        " POST https://hooks.example.com/services/hook-4d1e-secret?key=key-8e6f-secret;"
        " frame var url='https://hooks.example.com/services/hook-4d1e-secret'; db-7f3a-secret"
    )
    # When it is scrubbed
    scrubbed = scrub_text(text)
    # Then none is left
    for secret in ("smtp-2b9c-secret", "admin-5c0b-secret", "hook-4d1e-secret", "key-8e6f-secret", "db-7f3a-secret"):
        assert secret not in scrubbed, scrubbed


@pytest.mark.timeout(60)
def test_a_text_longer_than_the_bound_is_cut_not_scanned_to_its_end():
    text = "x" * 2_000_000 + " password=p-12ab"
    scrubbed = scrub_text(text)
    assert "p-12ab" not in scrubbed and scrubbed.endswith("more characters cut]")
