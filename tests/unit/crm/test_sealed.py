"""Webhook secrets sealed at rest (crm_core.sealed): what a database copy alone does not give away."""

from __future__ import annotations

import secrets

import pytest

from crm_core.sealed import PREFIX, SecretBox, UnknownKey

KEY, OLD, OTHER = (secrets.token_urlsafe(32) for _ in range(3))


def test_sealed_value_hides_the_secret_and_opens_to_it() -> None:
    box, clear = SecretBox(KEY), secrets.token_urlsafe(32)
    stored = box.seal(clear)
    assert stored.startswith(PREFIX) and clear not in stored
    assert len(stored) <= 255  # the column (migration 0013)
    assert box.seal(clear) != stored  # a fresh IV each time: equal secrets do not look equal
    assert box.open(stored) == clear


def test_another_key_or_an_altered_value_does_not_open() -> None:
    stored = SecretBox(OTHER).seal("s3cret")
    with pytest.raises(UnknownKey):
        SecretBox(KEY).open(stored)
    good = SecretBox(KEY).seal("s3cret")
    altered = good[:-6] + ("A" if good[-6] != "A" else "B") + good[-5:]
    with pytest.raises(UnknownKey):
        SecretBox(KEY).open(altered)


def test_old_keys_open_and_reseal_moves_values_to_the_current_key() -> None:
    before = SecretBox(OLD).seal("rotate-me")
    box = SecretBox(KEY, old_keys=[OLD])
    assert box.open(before) == "rotate-me"
    after = box.reseal(before)
    assert after is not None and SecretBox(KEY).open(after) == "rotate-me"
    assert box.reseal(after) is None  # already under the current key: nothing to write


def test_a_secret_stored_before_sealing_opens_as_itself_and_gets_sealed() -> None:
    box = SecretBox(KEY)
    assert box.open("legacy-clear-secret") == "legacy-clear-secret"
    sealed = box.reseal("legacy-clear-secret")
    assert sealed is not None and sealed.startswith(PREFIX) and box.open(sealed) == "legacy-clear-secret"


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="32 characters"):
        SecretBox("too-short")
