"""Test helper: drive the pure stepper with a script of caller inputs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from ivr import flow as f
from ivr import stepper as s
from ivr.config import check_file
from ivr.directory import CallerIdentity
from ivr.validate import resolve_prompts

DEMO = Path(__file__).resolve().parents[3] / "config" / "ivr" / "demo.yaml"
SHANGHAI = ZoneInfo("Asia/Shanghai")

# Wednesday 25 November 2026, 10:00 in Shanghai: open. Saturday: closed. 1 October: holiday.
OPEN = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI).timestamp()
SATURDAY = datetime(2026, 11, 28, 10, 0, tzinfo=SHANGHAI).timestamp()
HOLIDAY = datetime(2026, 10, 1, 10, 0, tzinfo=SHANGHAI).timestamp()
EVENING = datetime(2026, 11, 25, 18, 0, tzinfo=SHANGHAI).timestamp()

GOLD = CallerIdentity(customer_id=42, name="Li Wei", tier="gold", language=None, account_number="123456")
KEY = CallerIdentity(customer_id=7, name="Acme Ltd", tier="key_account", language="zh", account_number="654321")

Input = str | CallerIdentity | None


def stock_only(name: str, language: str) -> bool:
    """Resolve prompt aliases to the stock Asterisk sounds, whether or not cti/ prompts were made."""
    return not name.startswith("cti/")


def demo() -> f.Flow:
    flow, problems = check_file(DEMO, None)
    assert flow is not None, problems
    return resolve_prompts(flow, stock_only)


def walk(flow: f.Flow, inputs: list[Input], now: float = OPEN, vars: dict[str, str] | None = None,
         language: str | None = None) -> tuple[s.IvrState, list[s.Action]]:
    """Feed ``inputs`` (a str answers a Collect, '' is a timeout; an identity or None answers a
    Lookup) until the flow finishes; return the final state and every action."""
    state = s.start_state(flow)
    res = s.step(flow, state, s.Started(vars=vars or {}, language=language), now)
    actions = list(res.actions)
    feed = iter(inputs)
    while res.state.phase is not s.Phase.FINISHED:
        phase = res.state.phase
        if phase is s.Phase.PLAYING:
            ev: s.Event = s.PromptDone()
        else:
            item = next(feed)
            if phase is s.Phase.COLLECTING:
                assert isinstance(item, str), f"expected digits at {res.state.node}, got {item!r}"
                ev = s.Digits(item, timed_out=item == "")
            else:
                assert not isinstance(item, str), f"expected a lookup result at {res.state.node}"
                ev = s.LookupResult(item)
        res = s.step(flow, res.state, ev, now)
        actions.extend(res.actions)
    rest = list(feed)
    assert not rest, f"inputs left over: {rest}"
    return res.state, actions
