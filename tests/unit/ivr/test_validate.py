"""The validator names file, node and field for every problem; the demo flow passes."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cti.settings import load_settings
from ivr.cli import app
from ivr.config import check_flows, check_paths, load_flows
from ivr.errors import FlowInvalid
from ivr.sounds import SoundIndex
from ivr.validate import parse, resolve_prompts, validate
from tests.unit.ivr.walk import DEMO

BASE: dict[str, Any] = {
    "flow": "t", "entries": ["100"], "start": "hello", "operator": "op",
    "nodes": {
        "hello": {"type": "play", "prompt": ["beep"], "next": "menu"},
        "menu": {"type": "menu", "prompt": ["beep"], "options": {"1": "acct"}},
        "acct": {"type": "collect", "prompt": ["beep"], "var": "account", "min": 6, "max": 6, "next": "pin"},
        "pin": {"type": "collect", "prompt": ["beep"], "var": "pin", "min": 4, "max": 4, "sensitive": True,
                "next": "verify"},
        "verify": {"type": "lookup", "by": "account", "found": "sales", "not_found": "acct"},
        "sales": {"type": "queue", "queue": "sales", "skills": {"sales": 1}},
        "op": {"type": "queue", "queue": "general"},
    },
}


def problems(mutate: Any) -> list[str]:
    data = copy.deepcopy(BASE)
    mutate(data)
    flow, errs = parse(data, "t.yaml")
    if flow is None:
        return errs
    return validate(flow, "t.yaml")


def test_base_is_valid() -> None:
    assert problems(lambda d: None) == []


def _set(path: str, value: Any) -> Any:
    def mutate(d: dict[str, Any]) -> None:
        *head, last = path.split("/")
        for k in head:
            d = d[k]
        if value is _DEL:
            del d[last]
        else:
            d[last] = value
    return mutate


_DEL = object()

CASES = [
    ("unknown target", _set("nodes/hello/next", "nowhere"),
     "t.yaml: node 'hello': field 'next': unknown node 'nowhere'"),
    ("unknown option target", _set("nodes/menu/options", {"1": "acct", "2": "gone"}),
     "t.yaml: node 'menu': field 'options.2': unknown node 'gone'"),
    ("unknown start", _set("start", "nope"), "t.yaml: field 'start': unknown node 'nope'"),
    ("unreachable node", _set("nodes/orphan", {"type": "hangup"}),
     "t.yaml: node 'orphan': field '(node)': unreachable from start"),
    ("loop without exit", _set("nodes/hello/next", "hello"),
     "t.yaml: node 'hello': field '(graph)': loop without exit: hello -> hello; give one of these nodes "
     "max_visits and on_exhausted, or route the loop through a menu/collect"),
    ("bad pattern", _set("nodes/acct/pattern", "([0-9]"),
     "t.yaml: node 'acct': field 'pattern': bad regular expression: missing ), unterminated subpattern at "
     "position 0"),
    ("menu without a human", lambda d: d["nodes"]["menu"].update(operator_key=None),
     "t.yaml: node 'menu': field 'options': no way out to a human: add an option leading to a queue node (or "
     "set the flow's operator and keep operator_key)"),
    ("no operator, no fallback", lambda d: (d.pop("operator"), d["nodes"]["menu"]["options"].update({"0": "op"})),
     "t.yaml: node 'acct': field 'fallback': missing, and the flow has no operator to fall back to"),
    ("PIN not sensitive", _set("nodes/pin/sensitive", False),
     "t.yaml: node 'verify': field 'pin_var': 'pin' must be collected by a collect node with sensitive: true"),
    ("PIN in attributes", _set("nodes/sales/attributes", {"x": "{pin}"}),
     "t.yaml: node 'sales': field 'attributes.x': uses sensitive variable 'pin' (it is masked everywhere)"),
    ("operator not a queue", _set("operator", "hello"),
     "t.yaml: field 'operator': 'hello' must be a queue node without max_visits"),
    ("max_visits alone", _set("nodes/hello/max_visits", 2),
     "t.yaml: node 'hello': field 'on_exhausted': required with max_visits"),
    ("bad zone", _set("hours", {"timezone": "Mars/Olympus"}),
     "t.yaml: field 'hours.timezone': unknown time zone 'Mars/Olympus'"),
    ("backwards range", _set("hours", {"weekly": {"mon": ["18:00-09:00"]}}),
     "t.yaml: field 'hours.weekly.mon': range '18:00-09:00' ends before it starts"),
    ("hours test without hours", _set("nodes/hello", {"type": "branch", "cases": [
        {"when": {"hours": "open"}, "goto": "menu"}], "default": "op"}),
     "t.yaml: node 'hello': field 'cases.0.when.hours': the flow defines no hours.weekly (always closed)"),
    ("mixed key widths", _set("nodes/menu/options", {"1": "acct", "12": "sales"}),
     "t.yaml: node 'menu': field 'options': all keys must have the same length (GET DATA reads a fixed count)"),
    ("say last in a menu prompt", _set("nodes/menu/prompt", ["beep", {"digits": "{account}"}]),
     "t.yaml: node 'menu': field 'prompt': must end with a sound (the one played while waiting for keys)"),
    # schema errors from pydantic, mapped to node + field
    ("min above max", _set("nodes/acct/min", 8),
     "t.yaml: node 'acct': field 'max': max (6) is less than min (8)"),
    ("wrong field type", _set("nodes/acct/max", "six"),
     "t.yaml: node 'acct': field 'max': Input should be a valid integer, unable to parse string as an integer"),
    ("unknown field", _set("nodes/hello/nxt", "menu"),
     "t.yaml: node 'hello': field 'nxt': Extra inputs are not permitted"),
    ("unknown node type", _set("nodes/hello/type", "dance"),
     "t.yaml: node 'hello': field 'type': Input tag 'dance' found using 'type' does not match any of the "
     "expected tags: 'play', 'menu', 'collect', 'lookup', 'branch', 'set', 'queue', 'voicemail', 'callback', "
     "'transfer', 'hangup'"),
    ("unsafe sound name", _set("nodes/hello/prompt", ['beep" ; HANGUP']),
     "t.yaml: node 'hello': field 'prompt.0': sound name 'beep\" ; HANGUP' may only hold letters, "
     "digits and _ . / - (it goes into an AGI command)"),
    ("bad say item", _set("nodes/hello/prompt", [{"digits": "{a}", "number": "{b}"}]),
     "t.yaml: node 'hello': field 'prompt.0': a say item holds exactly one of digits, "
     "number, date"),
    ("missing next", _set("nodes/hello/next", _DEL), "t.yaml: node 'hello': field 'next': Field required"),
]


@pytest.mark.parametrize(("mutate", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_problem_is_named(mutate: Any, expected: str) -> None:
    assert expected in problems(mutate)


def test_missing_prompts_are_found(tmp_path: Path) -> None:
    (tmp_path / "en" / "digits").mkdir(parents=True)
    for name in ("beep.gsm", "digits/1.gsm", "hello.wav", "invalid.gsm"):
        (tmp_path / "en" / name).write_bytes(b"")
    data = copy.deepcopy(BASE)
    data["nodes"]["hello"]["prompt"] = ["hello", "digits/1", "helo"]
    data["prompts"] = {"greet": {"en": "hello"}}
    flow, _ = parse(data, "t.yaml")
    assert flow is not None
    errs = validate(flow, "t.yaml", SoundIndex(tmp_path))
    assert errs == [
        f"t.yaml: node 'hello': field 'prompt': sound 'helo' not found in {tmp_path}/en (and not a prompts alias)",
    ]
    data["prompts"] = {"greet": {"zh": "zh-only"}}
    flow, _ = parse(data, "t.yaml")
    assert flow is not None
    assert f"t.yaml: field 'prompts.greet.zh': none of 'zh-only' found in {tmp_path}/zh" in \
        validate(flow, "t.yaml", SoundIndex(tmp_path))


def test_prompt_candidates_resolve_to_the_first_sound_present(tmp_path: Path) -> None:
    (tmp_path / "en" / "cti").mkdir(parents=True)
    (tmp_path / "zh" / "cti").mkdir(parents=True)
    for name in ("en/beep.gsm", "en/invalid.gsm", "en/hello.gsm", "zh/cti/welcome.wav"):
        (tmp_path / name).write_bytes(b"")
    data = copy.deepcopy(BASE)
    data["prompts"] = {"welcome": {"en": ["cti/welcome", "hello"], "zh": ["cti/welcome", "hello"]}}
    data["nodes"]["hello"]["prompt"] = ["welcome"]
    flow, _ = parse(data, "t.yaml")
    assert flow is not None
    index = SoundIndex(tmp_path)
    assert validate(flow, "t.yaml", index) == []
    resolved = resolve_prompts(flow, index.exists)
    assert resolved.sound_for("welcome", "en") == ("hello",)
    assert resolved.sound_for("welcome", "zh") == ("cti/welcome",)
    assert resolve_prompts(flow, None).sound_for("welcome", "en") == ("cti/welcome",)
    data["prompts"] = {"welcome": {"en": ["cti/welcome", ["hello", "beep"]]}}
    flow, _ = parse(data, "t.yaml")
    assert flow is not None
    assert resolve_prompts(flow, index.exists).sound_for("welcome", "en") == ("hello", "beep")
    data["prompts"] = {"welcome": {"en": ["cti/welcome", ["hello", "cti/hi"]]}}
    flow, _ = parse(data, "t.yaml")
    assert flow is not None
    assert validate(flow, "t.yaml", index) == [
        f"t.yaml: field 'prompts.welcome.en': none of 'cti/welcome', 'hello+cti/hi' found in {tmp_path}/en"]


def test_chroot_symlinks_resolve_inside_the_rootfs(tmp_path: Path) -> None:
    real = tmp_path / "usr/share/asterisk/sounds/en_US_f_Allison"
    real.mkdir(parents=True)
    (real / "hello.gsm").write_bytes(b"")
    (tmp_path / "etc/alternatives").mkdir(parents=True)
    (tmp_path / "etc/alternatives/asterisk-prompt-en").symlink_to("/usr/share/asterisk/sounds/en_US_f_Allison")
    (tmp_path / "usr/share/asterisk/sounds/en").symlink_to("/etc/alternatives/asterisk-prompt-en")
    index = SoundIndex(tmp_path / "usr/share/asterisk/sounds", tmp_path)
    assert index.exists("hello", "en") and index.exists("hello", "zh") and not index.exists("bye", "en")


def _config(tmp_path: Path, files: dict[str, Any]) -> Any:
    ivr = tmp_path / "ivr"
    ivr.mkdir()
    for name, data in files.items():
        (ivr / name).write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return load_settings(config_dir=tmp_path, pbx={"rootfs": tmp_path / "no-rootfs"})


def test_load_flows_refuses_everything_when_one_file_is_bad(tmp_path: Path) -> None:
    other = copy.deepcopy(BASE)
    other["flow"] = "other"
    other["nodes"]["hello"]["next"] = "missing"
    settings = _config(tmp_path, {"a.yaml": BASE, "b.yaml": other, "c.yaml": "flow: [unclosed"})
    with pytest.raises(FlowInvalid) as info:
        load_flows(settings)
    errs = info.value.problems
    assert f"{tmp_path}/ivr/b.yaml: node 'hello': field 'next': unknown node 'missing'" in errs
    assert any(e.startswith(f"{tmp_path}/ivr/c.yaml: not valid YAML") for e in errs)
    assert len(errs) == 2
    assert check_flows(settings) == errs


def test_duplicate_entries_across_files(tmp_path: Path) -> None:
    other = copy.deepcopy(BASE)
    other["flow"] = "other"
    settings = _config(tmp_path, {"a.yaml": BASE, "b.yaml": other})
    assert check_flows(settings) == [
        f"{tmp_path}/ivr/b.yaml: field 'entries.0': 100 already routed to flow 't' in {tmp_path}/ivr/a.yaml",
    ]


def test_load_flows_keys_by_dnis_and_context(tmp_path: Path) -> None:
    data = copy.deepcopy(BASE)
    data["entries"] = ["100", {"dnis": "101", "language": "zh"}, {"context": "from-trunk"}]
    flows = load_flows(_config(tmp_path, {"a.yaml": data}))
    assert sorted(flows) == ["100", "101", "@from-trunk"]
    assert {fl.flow for fl in flows.values()} == {"t"}


def test_demo_flow_is_valid() -> None:
    assert check_paths([DEMO], None) == []


def test_cli_check_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = copy.deepcopy(BASE)
    bad["nodes"]["acct"]["pattern"] = "[0-9"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad), encoding="utf-8")
    monkeypatch.setenv("CTI_PBX__ROOTFS", str(tmp_path / "none"))
    runner = CliRunner()
    res = runner.invoke(app, ["check", str(path)])
    assert res.exit_code == 2
    assert f"error: {path}: node 'acct': field 'pattern': bad regular expression" in res.output
    res = runner.invoke(app, ["check", str(DEMO)])
    assert res.exit_code == 0, res.output
    assert "IVR flows OK" in res.output
