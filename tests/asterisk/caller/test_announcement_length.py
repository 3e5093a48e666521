"""The position announcement fits in ``MIN_ANNOUNCE_EVERY_S``: measured on the sound files the
managed Asterisk plays (its root file system, the prompts ``cti ivr prompts`` made), the longest
announcement of each language is shorter, so the next one never cuts a caller's off."""

from __future__ import annotations

import subprocess

from acd.announce import announcement
from acd.config import MIN_ANNOUNCE_EVERY_S
from cti.settings import load_settings
from ivr.config import sound_index


# What Asterisk's English say_number plays for n < 1000 (digits/<n>, the tens, "hundred").
def _say_en(n: int) -> list[str]:
    said: list[str] = []
    if n >= 100:
        said += [f"digits/{n // 100}", "digits/hundred"]
        n %= 100
    if n >= 20:
        said.append(f"digits/{n - n % 10}")
        n %= 10
    if n:
        said.append(f"digits/{n}")
    return said


def _seconds(path: str) -> float:
    # sox's stat, not soxi: soxi says 0 s for a raw .gsm file (no header), stat counts its samples.
    out = subprocess.run(["sox", path, "-n", "stat"], capture_output=True, text=True, check=True).stderr
    return float(next(line for line in out.splitlines() if line.startswith("Length")).split(":")[1])


def test_the_longest_announcement_of_each_language_is_shorter_than_the_announcement_period() -> None:
    index = sound_index(load_settings())
    assert index is not None, "no managed Asterisk root file system with sounds (make pbx-rootfs)"
    cache: dict[tuple[str, str], float] = {}

    def length(name: str, language: str) -> float:
        if (name, language) not in cache:
            files = [p for lang in (language, "en") if (base := index.language_dir(lang)) is not None
                     for p in base.glob(f"{name}.*")]
            assert files, f"{name} ({language}) missing"
            cache[name, language] = _seconds(str(files[0]))
        return cache[name, language]

    longest: dict[str, tuple[float, list[str]]] = {}
    for language in ("en", "zh"):
        for position in (1, 2, 9, 21, 22, 178, 999):
            for ewt, low, high in ((30, None, None), (4200, None, None), (4200, 3000, 4200), (600, 480, 1080),
                                   (1380, 1320, 1380)):
                names: list[str] = []
                for kind, value in announcement(position, ewt, low, high, language):
                    names += _say_en(int(value)) if kind == "number" else [str(value)]
                total = sum(length(n, language) for n in names)
                if total > longest.get(language, (0.0, []))[0]:
                    longest[language] = (total, names)
    for language, (total, names) in longest.items():
        assert total < MIN_ANNOUNCE_EVERY_S - 2, (language, round(total, 1), names)
