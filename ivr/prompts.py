"""The project's own prompts: spoken with espeak-ng, made 8 kHz mono 16-bit wav with sox, and
installed as ``<sounds>/<language>/cti/<name>.wav`` where Asterisk looks for them.

Texts live in ``config/ivr/prompts.tsv``: ``name<TAB>language<TAB>text`` per line.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ivr.errors import IvrError
from ivr.sounds import SoundIndex

# espeak-ng voice per Asterisk language directory.
VOICES = {"en": "en-us", "zh": "cmn"}
PREFIX = "cti"


class PromptError(IvrError):
    code = "ivr_prompt_failed"


@dataclass(frozen=True)
class PromptText:
    name: str
    language: str
    text: str


def read_texts(path: Path) -> list[PromptText]:
    out: list[PromptText] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3 or parts[1] not in VOICES or not parts[0].replace("_", "").isalnum():
            raise PromptError(f"{path}:{n}: expected name<TAB>language ({'/'.join(VOICES)})<TAB>text")
        out.append(PromptText(parts[0], parts[1], parts[2].strip()))
    return out


def make_prompts(texts: list[PromptText], sounds: SoundIndex) -> list[Path]:
    """Write every prompt; return the files written. Needs espeak-ng and sox on the PATH."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise PromptError(f"{tool} is not installed (Debian package {tool})")
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="cti-prompts-") as tmp:
        for t in texts:
            base = sounds.language_dir(t.language) or sounds.root / t.language
            target = base / PREFIX / f"{t.name}.wav"
            target.parent.mkdir(parents=True, exist_ok=True)
            raw = Path(tmp) / f"{t.language}-{t.name}.wav"
            _run(["espeak-ng", "-v", VOICES[t.language], "-s", "150", "-w", str(raw), t.text])
            # Asterisk's wav format is 8 kHz, mono, 16-bit signed PCM.
            _run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", str(target)])
            written.append(target)
    return written


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise PromptError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.strip()[:300]}")
