"""The engine that dies: run as ``python -m tests.asterisk.recovery.crashing_engine SETTINGS.json``.

It seeds the demo company, starts the whole engine, logs agent 1001 in, connects one call to it,
queues three more callers behind it and leaves one caller in the IVR, prints what it did as one
JSON line, and then waits to be killed (SIGKILL: no clean shutdown, nothing hung up)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from acd.events import AgentOffer
from callcenter.engine import Engine
from cti.events import Event
from cti.journey import CallConnected, QueueEntered
from cti.loop import run as run_loop
from cti.settings import Settings, load_settings
from tests.helpers import engine_settings, english_customer_number, place_call, seed, until


async def main(settings: Settings) -> None:
    await seed(settings)
    seen: list[Event] = []

    async def record(ev: Event) -> None:
        seen.append(ev)

    engine = Engine(settings, answer_after_s=0.5)
    engine.bus.subscribe(Event, record, name="test.recorder")
    await engine.start()
    # English-speaking: agents 1002 and 1008, who take the waiting callers later, have no zh skill.
    number = await english_customer_number(engine)
    await engine.desk.login_queues("1001", ["support", "general"])
    await engine.desk.set_ready("1001")

    def queued() -> list[Event]:
        return [e for e in seen if isinstance(e, QueueEntered)]

    first = await place_call(engine, queued, number)
    await until(lambda: any(isinstance(e, CallConnected) and e.linkedid == first.linkedid for e in seen))
    waiting = [(await place_call(engine, queued, number)).linkedid for _ in range(3)]
    await asyncio.sleep(0.5)
    ivr = await engine.ami.control.originate("Local/5002@cti-inbound/n", context="cti-sim-caller", exten="s",
                                             caller_id=f"<{number}>", timeout_ms=10000)
    await until(lambda: ivr.linkedid and engine.agi.open_sessions > 0)
    await engine.bus.drain()  # type: ignore[attr-defined]
    await engine.logger.flush()
    offers = [e.linkedid for e in seen if isinstance(e, AgentOffer)]
    print(json.dumps({"connected": first.linkedid, "waiting": waiting, "ivr": ivr.linkedid, "offers": offers}),
          flush=True)
    await asyncio.Event().wait()


ROOT = Path(__file__).resolve().parents[3]


async def away_settings(pbx_settings: Settings, tmp_path: Path) -> Settings:
    """A private seeded database, and the fallback after 3 s without the engine (checked every second)."""
    settings = engine_settings(pbx_settings, tmp_path).model_copy(update={
        "resilience": pbx_settings.resilience.model_copy(update={"engine_timeout_s": 3, "check_every_s": 1})})
    await seed(settings)
    return settings


def _settings_file(settings: Settings, path: Path) -> Path:
    data: dict[str, Any] = settings.model_dump(mode="json")
    data["ami"]["secret"] = settings.ami.secret.get_secret_value()
    data["web"]["session_secret"] = settings.web.session_secret.get_secret_value()
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


async def start(settings: Settings, tmp_path: Path, module: str = __name__,
                ) -> tuple[asyncio.subprocess.Process, dict[str, Any]]:
    """Run this engine (or ``module``'s, which prints one JSON line the same way) in a process of
    its own; returns it and what it did, once it waits to be killed."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module,
        str(_settings_file(settings, tmp_path / "settings.json")),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 180)
    assert line, f"the first engine died before it was ready (exit {proc.returncode})"
    return proc, json.loads(line)


if __name__ == "__main__":
    # The product's loop (cti.loop), as `cti run` uses.
    run_loop(main(load_settings(**json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")))))
