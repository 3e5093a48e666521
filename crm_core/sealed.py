"""Secrets the engine must read back in clear (a webhook's signing secret), kept sealed at rest.

A webhook's secret cannot be hashed like a password: the engine signs every delivery with it. So
the database holds it sealed (Fernet: AES-128-CBC and HMAC-SHA256, from ``cryptography``) under a
key that is not in the database. A copy of the database alone (a backup, a replica, a dump handed
to support) no longer lets anyone forge the engine's webhook signatures.

    stored = "sealed:v1:" + Fernet token

The key is any high-entropy string (the composition root passes ``feed.webhook_key``, or the
installation's generated one); the Fernet key is derived from it with HKDF-SHA256. Old keys given
beside the current one still open what they sealed, so a key can be rotated: ``reseal`` rewrites a
value under the current key. A value without the prefix is a secret stored before sealing existed:
it opens as itself and ``reseal`` seals it.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "sealed:v1:"
_INFO = b"cti-engine sealed secrets v1"


class UnknownKey(Exception):
    """The value was sealed under a key this box does not hold (or it was altered)."""


def _fernet(key: str) -> Fernet:
    if len(key) < 32:
        raise ValueError("a sealing key needs at least 32 characters of random text")
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


class SecretBox:
    """Seals and opens short secrets under ``key``; ``old_keys`` still open (see the module docstring)."""

    def __init__(self, key: str, old_keys: Sequence[str] = ()) -> None:
        self._current = _fernet(key)
        self._all = MultiFernet([self._current, *(_fernet(k) for k in old_keys)])

    def seal(self, clear: str) -> str:
        return PREFIX + self._current.encrypt(clear.encode()).decode()

    def open(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored  # stored before sealing existed
        try:
            return self._all.decrypt(stored[len(PREFIX):].encode()).decode()
        except InvalidToken:
            raise UnknownKey("sealed under a key this engine does not have") from None

    def reseal(self, stored: str) -> str | None:
        """``stored`` sealed under the current key, or None when it already is."""
        if stored.startswith(PREFIX):
            try:
                self._current.decrypt(stored[len(PREFIX):].encode())
                return None
            except InvalidToken:
                pass
        return self.seal(self.open(stored))
