"""A hangup action's announcement reaches Asterisk's Playback() through CTI_ANNOUNCE: a sound name,
never a list of files (``&``), options (``,``) or a line break."""

from __future__ import annotations

from pathlib import Path

import pytest

from acd.config import check_queues
from cti.settings import load_settings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("target", ["cti/queue_closing&tt-monkeys", "goodbye,skip", "cti/x\\nHangup", "../../x y"])
def test_a_hangup_announcement_that_is_not_a_sound_name_is_refused(tmp_path: Path, target: str) -> None:
    (tmp_path / "queues.yaml").write_text(f"""skills: [support]
queues:
  support:
    steps: [{{after_s: 0, skills: {{support: 1}}}}]
    max_wait_s: 60
    max_wait_action: {{action: hangup, target: "{target}"}}
""", encoding="utf-8")
    problems = check_queues(load_settings(config_dir=tmp_path))
    assert len(problems) == 1 and "queues.support.max_wait_action.target: a sound name" in problems[0], problems


def test_a_sound_name_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "queues.yaml").write_text("""skills: [support]
queues:
  support:
    steps: [{after_s: 0, skills: {support: 1}}]
    max_wait_s: 60
    max_wait_action: {action: hangup, target: cti/queue_closing}
""", encoding="utf-8")
    assert check_queues(load_settings(config_dir=tmp_path)) == []
