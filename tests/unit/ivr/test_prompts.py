"""The project's own prompts: espeak-ng + sox into <sounds>/<language>/cti/<name>.wav."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ivr.cli import app
from ivr.config import check_file
from ivr.prompts import PromptError, PromptText, make_prompts, read_texts
from ivr.sounds import SoundIndex
from ivr.validate import resolve_prompts
from tests.unit.ivr.walk import DEMO

TEXTS = DEMO.parent / "prompts.tsv"


def test_shipped_texts_cover_every_cti_prompt_of_the_demo() -> None:
    texts = {(t.name, t.language) for t in read_texts(TEXTS)}
    flow, _ = check_file(DEMO, None)
    assert flow is not None
    wanted = set()
    for by_lang in flow.prompts.values():
        for lang, candidates in by_lang.items():
            wanted |= {(c[0].removeprefix("cti/"), lang) for c in candidates if c[0].startswith("cti/")}
    assert wanted and wanted <= texts


def test_generated_prompts_are_8khz_mono_wav_and_preferred(tmp_path: Path) -> None:
    texts = [PromptText("welcome", "en", "Welcome."), PromptText("welcome", "zh", "欢迎。")]
    written = make_prompts(texts, SoundIndex(tmp_path))
    assert written == [tmp_path / "en/cti/welcome.wav", tmp_path / "zh/cti/welcome.wav"]
    for path in written:
        with wave.open(str(path)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
            assert w.getnframes() > 2000  # a real utterance, not an empty file
    (tmp_path / "en/hello.gsm").write_bytes(b"")
    index = SoundIndex(tmp_path)
    flow, _ = check_file(DEMO, None)
    assert flow is not None
    resolved = resolve_prompts(flow, index.exists)
    assert resolved.sound_for("welcome", "zh") == ("cti/welcome",)
    assert resolved.sound_for("welcome", "en") == ("cti/welcome",)


def test_bad_text_lines_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "p.tsv"
    bad.write_text("welcome\tfr\tBienvenue\n", encoding="utf-8")
    with pytest.raises(PromptError, match=r"p.tsv:1: expected name<TAB>language"):
        read_texts(bad)


def test_cli_writes_prompts(tmp_path: Path) -> None:
    texts = tmp_path / "t.tsv"
    texts.write_text("# comment\nbye\ten\tGoodbye.\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["prompts", "--texts", str(texts), "--sounds", str(tmp_path / "sounds")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "sounds/en/cti/bye.wav").stat().st_size > 1000
