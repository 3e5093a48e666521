"""A caller with ears, on the carrier of tests/asterisk/trunks: the caller's phone is a channel of
the carrier's Asterisk that dials our DID over SIP, presses its keys on a script, and records what
it hears (MixMonitor's r() file: the audio that channel reads, that is what our side sends over
RTP, silence where none came; a host too loaded for its Asterisk still loses stretches, and
``from_end`` places a moment on it from its end, the hang-up). It sends a 3900 Hz tone all along,
as a real phone sends RTP all along: a leg that sends nothing makes Asterisk's generators (music
on hold) run unlike a real call, and the tone is out of the band the measures look at (below
3300 Hz). Our Asterisk's own log, its verbose lines in a log channel of the test's own, names each
sound file it played, in which language, and the ones it could not find."""

from __future__ import annotations

import itertools
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from acd.calls import AgentPhone
from cti.pbx import ManagedPbx
from cti.settings import load_settings
from ivr.config import sound_index
from tests.asterisk.trunks.rig import Rig

_count = itertools.count()
_PLAYING = re.compile(r"Playing '([^']+?)(?:\.[a-z0-9]+)?' .*\(language '([^']*)'\)")
_MISSING = re.compile(r"File (\S+) does not exist")
_TS = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\]")


@dataclass(frozen=True)
class Heard:
    """What one caller heard: the recording (8 kHz, the caller's tone filtered out) and, in order,
    (seconds since the first line of the log, sound file, language) of each file our side played."""

    wav: Path
    played: list[tuple[float, str, str]]
    missing: list[str]
    log: str


@contextmanager
def verbose_log(pbx: ManagedPbx) -> Iterator[Path]:
    """Asterisk's verbose lines in a log file of the test's own while the block runs (the
    instance's messages file has notices and warnings only)."""
    name = f"ears-{next(_count)}-{int(time.time())}"
    pbx.cli(f"logger add channel {name} notice,warning,error,verbose")
    pbx.cli("core set verbose 3")
    try:
        yield pbx.instance_dir / "log" / name
    finally:
        pbx.cli(f"logger remove channel {name}")


def _ears(rig: Rig, script: list[str]) -> tuple[str, Path]:
    """A caller-ears extension on the carrier: answer, record what is heard, run ``script`` on the tone."""
    tag = f"ears{next(_count)}x{int(time.time() * 1000)}"
    inside = f"{rig.carrier.instance_path}/spool/monitor/{tag}"
    # A jitter buffer on what the phone reads gives a frame every 20 ms, silence where none came:
    # without it the recording held no time where our side sent no RTP (between the IVR's prompts,
    # while a key is awaited), and every later moment came out up to 1.8 s early against Asterisk's
    # log. It holds 200 ms, which the hang-up cuts off. (A host too loaded still loses stretches.)
    steps = ["Answer()", "Set(JITTERBUFFER(fixed)=default)", f"MixMonitor({inside}-mix.wav,r({inside}-heard.wav))",
             "Playtones(3900)"]
    for app in script:  # a key press ends the tone: it goes on after each one
        steps += [app, "Playtones(3900)"] if app.startswith("SendDTMF") else [app]
    steps += ["Wait(3600)", "Hangup()"]
    for n, app in enumerate(steps, 1):
        rig.carrier.cli(f'dialplan add extension "{tag},{n},{app}" into caller-ears replace')
    return tag, rig.carrier.instance_dir / "spool" / "monitor" / f"{tag}-heard.wav"


def place(rig: Rig, number: str, did: str, script: list[str]) -> Path:
    """The carrier's subscriber ``number`` dials ``did``; once answered its phone runs ``script``
    (dialplan applications, e.g. ``Wait(4)``, ``SendDTMF(1)``) with its ears open, then waits.
    Returns where, on this host, the recording of what it hears will be once the call ends."""
    tag, recording = _ears(rig, script)
    for n, app in enumerate((f"Set(CALLERID(num)={number})", f"Dial(PJSIP/{did}@callcenter,20)", "Hangup()"), 1):
        rig.carrier.cli(f'dialplan add extension "{tag},{n},{app}" into caller-dials replace')
    rig.carrier.cli(f"channel originate Local/{tag}@caller-dials extension {tag}@caller-ears")
    return recording


def answer_at(rig: Rig, number: str, script: list[str]) -> Path:
    """The carrier's subscriber ``number`` answers the next call the call centre places to it (its
    number's own extension in carrier-network, before the patterns), then as ``place``'s phone does.
    ``forget_number`` takes the extension away again."""
    tag, recording = _ears(rig, script)
    rig.carrier.cli(f'dialplan add extension "{number},1,Goto(caller-ears,{tag},1)" into carrier-network replace')
    return recording


def forget_number(rig: Rig, number: str) -> None:
    rig.carrier.cli(f"dialplan remove extension {number}@carrier-network")


def key_when_told(name: str) -> list[str]:
    """Script steps: the phone waits, on its tone, until the test says which key (``press``), then presses it."""
    # No double quotes: the CLI's ``dialplan add extension "..."`` takes the step in them.
    return [f"While($[${{LEN(${{GLOBAL({name})}})}} = 0])", "Wait(0.1)", "EndWhile()", f"SendDTMF(${{GLOBAL({name})}})"]


def played(log: Path, name: str) -> bool:
    """Whether our Asterisk's log (``verbose_log``) says it began to play the sound file ``name``."""
    return log.exists() and f"Playing '{name}." in log.read_text(errors="replace")


def press(rig: Rig, name: str, digit: str) -> None:
    """The phone waiting at ``key_when_told(name)`` presses ``digit`` now."""
    assert len(digit) == 1 and digit in "0123456789*#"
    rig.carrier.cli(f"dialplan set global {name} {digit}")


def heard(recording: Path, log: Path, base: Path) -> Heard:
    """The caller's recording, its tone filtered out, with what the log says our side played."""
    wav = base / recording.name.replace("-heard", "-voice")
    subprocess.run(["sox", str(recording), str(wav), "sinc", "-3300"], check=True, capture_output=True)
    text = log.read_text(errors="replace") if log.exists() else ""
    played: list[tuple[float, str, str]] = []
    start: float | None = None
    for line in text.splitlines():
        ts, m = _TS.match(line), _PLAYING.search(line)
        if ts and m:
            t = time.mktime(time.strptime(ts.group(1)[:19], "%Y-%m-%d %H:%M:%S")) + float(ts.group(1)[19:])
            start = t if start is None else start
            played.append((round(t - start, 2), m.group(1), m.group(2)))
    return Heard(wav, played, _MISSING.findall(text), text)


def stamp(line: str) -> float:
    """The time of one of Asterisk's log lines ([YYYY-MM-DD HH:MM:SS.mmm])."""
    return time.mktime(time.strptime(line[1:20], "%Y-%m-%d %H:%M:%S")) + float(line[20:24])


def logged_at(got: Heard, marker: str) -> float:
    """The time of the first line of our Asterisk's log that holds ``marker``."""
    return stamp(next(line for line in got.log.splitlines() if marker in line))


def from_end(got: Heard, at: float, ended: float) -> float:
    """Where on the recording the moment ``at`` (epoch seconds) is, the call having ended at ``ended``:
    counted from the recording's end, not its start, which a stretch missing from it (no RTP came;
    the host too loaded) moves by seconds."""
    return sox_stat(got.wav)["Length (seconds)"] - (ended - at)


def played_from_end(got: Heard, t: float, ended: float) -> float:
    """Where on the recording a moment of ``got.played`` is (``t``: seconds since the log's first
    sound, the welcome), the call having ended at ``ended``: placed from the end (``from_end``)."""
    return from_end(got, logged_at(got, "Playing '") + t, ended)


def sound_seconds(name: str, language: str = "en") -> float:
    """How long the managed Asterisk's sound file ``name`` lasts (its root file system's)."""
    index = sound_index(load_settings())
    assert index is not None, "no managed Asterisk root file system with sounds (make pbx-rootfs)"
    base = index.language_dir(language)
    assert base is not None, language
    path = next(base.glob(f"{name}.*"))
    # sox's stat, not soxi: soxi says 0 s for a raw .gsm file (no header), stat counts its samples.
    return sox_stat(path)["Length (seconds)"]


def sox_stat(path: Path, *effects: str) -> dict[str, float]:
    out = subprocess.run(["sox", str(path), "-n", *effects, "stat"], capture_output=True, text=True, check=True)
    stats: dict[str, float] = {}
    for line in out.stderr.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            try:
                stats[key.strip()] = float(value.strip())
            except ValueError:
                continue
    return stats


def rms(path: Path, start_s: float, length_s: float) -> float:
    """The RMS amplitude (0..1) of what the caller heard from ``start_s`` for ``length_s``."""
    return sox_stat(path, "trim", f"{start_s:.2f}", f"{length_s:.2f}")["RMS     amplitude"]


def sounding(path: Path, window_s: float = 0.1, threshold: float = 0.005) -> list[tuple[float, float]]:
    """(start, end) in seconds of each stretch where the caller heard something."""
    raw = subprocess.run(["sox", str(path), "-t", "raw", "-e", "signed", "-b", "16", "-c", "1", "-r", "8000", "-"],
                         capture_output=True, check=True).stdout
    n = int(8000 * window_s)
    spans: list[tuple[float, float]] = []
    start: float | None = None
    samples = memoryview(raw).cast("h")
    for i in range(0, len(samples), n):
        chunk = samples[i:i + n]
        loud = (sum(s * s for s in chunk) / max(1, len(chunk))) ** 0.5 / 32768 > threshold
        if loud and start is None:
            start = i / 8000
        elif not loud and start is not None:
            spans.append((start, i / 8000))
            start = None
    if start is not None:
        spans.append((start, len(samples) / 8000))
    return spans


def longest_silence(path: Path, start_s: float = 0.0, end_s: float | None = None) -> float:
    """The longest stretch of silence the caller heard between ``start_s`` and ``end_s``."""
    total = sox_stat(path)["Length (seconds)"]
    end = total if end_s is None else end_s
    last, longest = start_s, 0.0
    for a, b in sounding(path):
        if b <= start_s or a >= end:
            continue
        longest = max(longest, min(a, end) - last)
        last = max(last, b)
    return max(longest, end - last)


# The sox bands the caller tests measure: the simulated agent phone's 1000 Hz, music on hold below it.
TONE, MUSIC = ("sinc", "900-1100"), ("sinc", "-800")


@dataclass(frozen=True)
class TonePhone(AgentPhone):
    """A simulated agent phone that plays a tone once answered: 1000 Hz (cti-sim-phone-tone) or
    ``context``'s."""

    context: str = "cti-sim-phone-tone"

    @property
    def dial(self) -> str:
        return f"Local/{self.extension}@{self.context}/n"


def band(wav: Path, start_s: float, length_s: float, where: tuple[str, str]) -> float:
    """The RMS amplitude of ``wav`` in a window, within a sox band (``TONE``, ``MUSIC``)."""
    return sox_stat(wav, "trim", f"{start_s:.2f}", f"{length_s:.2f}", *where)["RMS     amplitude"]

