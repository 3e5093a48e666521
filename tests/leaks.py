"""Whether a secret (a PIN, card digits, the keys a caller pressed) shows in some text.

A plain ``"9731" not in text`` fails by chance when the text holds wall-clock timestamps: the
digits turn up inside one (``1795572010.3973198``), one run in a few hundred. A leaked secret
stands as a token of its own (``"input": "9731"``, ``pin=9731``), so it is looked for with no digit
right before or after it."""

from __future__ import annotations

import re


def shows(secret: str, text: str) -> bool:
    return re.search(rf"(?<!\d){re.escape(secret)}(?!\d)", text) is not None
