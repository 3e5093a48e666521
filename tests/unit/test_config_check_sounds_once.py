"""check_all built the PBX's sound index twice (the IVR flows' check, then the queue sounds'
cross-check), each walking every language folder of the sounds again: now once, passed along."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import ivr.config
from callcenter.config_check import check_all
from cti.settings import DEFAULT_CONFIG_DIR, load_settings
from ivr.sounds import SoundIndex


def test_check_all_builds_the_sound_index_once_and_walks_each_language_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    rootfs = tmp_path / "rootfs"  # a managed PBX's sounds, seen from here: English only, one file
    (rootfs / "usr/share/asterisk/sounds/en").mkdir(parents=True)
    (rootfs / "usr/share/asterisk/sounds/en/hello.gsm").write_bytes(b"")
    built: list[SoundIndex] = []
    walked: list[str] = []

    class Counted(SoundIndex):
        def __init__(self, root: Path, chroot: Path | None = None) -> None:
            super().__init__(root, chroot)
            built.append(self)

        def language_dir(self, language: str) -> Path | None:  # called once per language a cache misses
            walked.append(language)
            return super().language_dir(language)

    monkeypatch.setattr(ivr.config, "SoundIndex", Counted)
    settings = load_settings(config_dir=config, pbx={"mode": "managed", "rootfs": rootfs})
    problems = check_all(settings)
    assert any("sound 'cti/" in p for p in problems)  # the sounds were looked at: none of the project's is there
    assert len(built) == 1, built
    assert sorted(walked) == sorted(set(walked)), walked
