"""Recording and survey policies: queues.yaml keys, the percentage draw, the file layout, and the
survey's key parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from acd.config import check_queues, load_queues
from acd.recording import RecordingPolicy, recording_path, safe_name
from acd.survey import score
from cti.settings import PROJECT_ROOT, load_settings


def test_shipped_queues_have_recording_and_survey_policies() -> None:
    cfg = load_queues(load_settings())
    assert cfg.recording["support"] == RecordingPolicy("all")
    assert cfg.recording["billing"] == RecordingPolicy("percent", 50.0)
    assert cfg.recording["sales"].mode == "on_demand" and cfg.recording["general"].mode == "none"
    assert cfg.surveys["billing"].questions == ("cti/survey_q1", "cti/survey_q2")
    assert set(cfg.surveys) == {"billing"}


def _config(tmp_path: Path, **support: object) -> Path:
    data = yaml.safe_load((PROJECT_ROOT / "config" / "queues.yaml").read_text(encoding="utf-8"))
    data["queues"]["support"].update(support)
    (tmp_path / "queues.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(("value", "message"), [
    ({"percent": 120}, "percent"), ("sometimes", "recording"), ({"survey": 1}, "recording"),
])
def test_bad_recording_keys_are_named(tmp_path: Path, value: object, message: str) -> None:
    errors = check_queues(load_settings(config_dir=_config(tmp_path, recording=value)))
    assert errors and any(message in e and "support" in e for e in errors), errors


def test_bad_survey_is_named(tmp_path: Path) -> None:
    errors = check_queues(load_settings(config_dir=_config(tmp_path, survey={"questions": ["a", "b", "c"]})))
    assert errors and any("survey" in e for e in errors), errors


def test_percentage_is_stable_per_call_and_close_to_the_share() -> None:
    policy = RecordingPolicy("percent", 30)
    ids = [f"1764744000.{n}" for n in range(4000)]
    recorded = [i for i in ids if policy.decide(i) == "record"]
    assert 0.27 < len(recorded) / len(ids) < 0.33
    assert all(policy.decide(i) == "record" for i in recorded[:50])  # same answer every time
    assert RecordingPolicy("percent", 0).decide("x") == "off"
    assert RecordingPolicy("percent", 100).decide("x") == "record"
    assert RecordingPolicy("all").decide("x") == "record" and RecordingPolicy().decide("x") == "off"
    assert RecordingPolicy("on_demand").decide("x") == "on_demand"
    assert not RecordingPolicy().announces and not RecordingPolicy("percent", 0).announces
    assert RecordingPolicy("on_demand").announces


def test_layout_is_hourly_in_utc_and_safe() -> None:
    local = datetime(2026, 12, 3, 8, 5, tzinfo=timezone(timedelta(hours=8)))
    assert recording_path("1764744000.42", 1, local) == "2026/12/03/00/1764744000.42-1.wav"
    assert recording_path("../../etc/passwd", 2, datetime(2027, 1, 1, tzinfo=UTC)) == \
        "2027/01/01/00/_.._etc_passwd-2.wav"
    assert safe_name("..") == "call" and "/" not in safe_name("a/b")


@pytest.mark.parametrize(("digit", "expected"), [("1", 1), ("5", 5), ("0", None), ("6", None), ("", None),
                                                 ("#", None), ("12", None)])
def test_survey_keys(digit: str, expected: int | None) -> None:
    assert score(digit) == expected


def test_every_shipped_flow_tells_callers_of_recording_queues() -> None:
    """A queue that may record is announced: its IVR queue nodes play ``recorded_notice``."""
    import ivr.flow as f
    from ivr.config import flows_dir

    settings = load_settings()
    cfg = load_queues(settings)
    checked = 0
    for path in sorted(flows_dir(settings).glob("*.yaml")):
        flow = f.Flow.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        for node_id, node in flow.nodes.items():
            if isinstance(node, f.Queue) and cfg.recording.get(node.queue, RecordingPolicy()).announces:
                assert "recorded_notice" in [str(p) for p in node.prompt], (path.name, node_id)
                checked += 1
    assert checked >= 3
