"""``announce_every_s`` has a lower bound: the next position announcement redirects the caller into
a new one, cutting off the one still playing (a Chinese announcement with a range of minutes lasts
about 22 s, an English one up to about 18 s)."""

from __future__ import annotations

from pathlib import Path

import pytest

from acd.config import MIN_ANNOUNCE_EVERY_S, check_queues
from cti.settings import load_settings

pytestmark = pytest.mark.unit

QUEUES = """skills: [support]
queues:
  support:
    steps: [{after_s: 0, skills: {support: 1}}]
    announce_every_s: %s
"""


def _problems(tmp_path: Path, every: str) -> list[str]:
    (tmp_path / "queues.yaml").write_text(QUEUES % every, encoding="utf-8")
    return check_queues(load_settings(config_dir=tmp_path))


@pytest.mark.parametrize("every", ["10", "12.5", "24"])
def test_an_announcement_period_shorter_than_an_announcement_is_refused(tmp_path: Path, every: str) -> None:
    problems = _problems(tmp_path, every)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{tmp_path}/queues.yaml: queues.support.announce_every_s: at least "
                                  f"{MIN_ANNOUNCE_EVERY_S:g} s"), problems
    assert "cut" in problems[0]


@pytest.mark.parametrize("every", ["25", "30", "60"])
def test_a_period_an_announcement_fits_in_is_accepted(tmp_path: Path, every: str) -> None:
    assert _problems(tmp_path, every) == []
