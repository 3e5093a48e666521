"""Language tags, matched by their primary language subtag: zh-CN, zh-Hans-CN, zh_CN and ZH are all
``zh``; en-US is ``en``. The CRM stores BCP 47 tags (``zh-CN``), flows and Asterisk sound directories
use bare languages (``zh``) or ``ll_CC``; every comparison of two languages goes through here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import TypeVar

V = TypeVar("V")

# A well-formed BCP 47 language tag (RFC 5646 section 2.1) whose language is an ISO 639 code of 2-3
# letters (the 4-8 letter forms are reserved or unused; "chinese" is a typo, not a language), '_'
# accepted as the separator Asterisk uses.
_TAG = re.compile(
    r"(?:[a-z]{2,3}(?:-[a-z]{3}){0,3})"  # language (+ extlang)
    r"(?:-[a-z]{4})?"  # script
    r"(?:-(?:[a-z]{2}|[0-9]{3}))?"  # region
    r"(?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*"  # variants
    r"(?:-[0-9a-wy-z](?:-[a-z0-9]{2,8})+)*"  # extensions
    r"(?:-x(?:-[a-z0-9]{1,8})+)?"  # private use
    r"|x(?:-[a-z0-9]{1,8})+")
# What Asterisk takes as a sound directory as it is: "zh", "en_GB".
_ASTERISK = re.compile(r"[a-z]{2}(?:_[A-Z]{2})?")


def is_language_tag(tag: str) -> bool:
    """True for a well-formed language tag (``zh``, ``zh-CN``, ``zh-Hans-CN``, ``en_GB``)."""
    return _TAG.fullmatch(tag.replace("_", "-").lower()) is not None


def primary(tag: str) -> str:
    """The primary language subtag, lower case: ``zh-Hans-CN`` -> ``zh``."""
    return tag.replace("_", "-").split("-", 1)[0].strip().lower()


def same_language(a: str | None, b: str | None) -> bool:
    """Whether two tags name the same language (their primary subtags agree); None matches nothing."""
    return bool(a) and bool(b) and primary(a or "") == primary(b or "")


def for_language(table: Mapping[str, V], language: str) -> V | None:
    """The value keyed by ``language``: the exact key first, then any key of the same language."""
    if language in table:
        return table[language]
    return next((v for k, v in table.items() if same_language(k, language)), None)


@functools.lru_cache(maxsize=256)
def sound_language(tag: str) -> str:
    """The language for Asterisk's CHANNEL(language): a flow's own ``zh`` / ``en_GB`` as it is, a
    CRM tag such as ``zh-CN`` by its primary language (the sound directories are named that way)."""
    return tag if _ASTERISK.fullmatch(tag) else primary(tag)
