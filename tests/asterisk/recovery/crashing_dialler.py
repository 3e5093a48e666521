"""The engine that dies during an agent's own call: run as
``python -m tests.asterisk.recovery.crashing_dialler SETTINGS.json`` (``crashing_engine.start``).

It seeds the demo company, starts the whole engine, logs agent 1002 in, puts them on lunch, dials a
customer from the break (cti-sim-customer answers after 1 s), prints the call's linkedid as one JSON
line once the customer answered, and waits to be killed (SIGKILL: nothing hung up)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from callcenter.engine import Engine
from cti.events import Event
from cti.journey import FarEndResult
from cti.loop import run as run_loop
from cti.settings import Settings, load_settings
from tests.helpers import seed, until

NUMBER = "8613800138000"


async def main(settings: Settings) -> None:
    await seed(settings)
    seen: list[Event] = []

    async def record(ev: Event) -> None:
        seen.append(ev)

    engine = Engine(settings, answer_after_s=0.5)  # web: the supervisor records the agents' states
    engine.bus.subscribe(Event, record, name="test.recorder")
    await engine.start()
    await engine.desk.login_queues("1002", ["support"])
    await engine.desk.set_not_ready("1002", "lunch")
    linkedid = await engine.desk.dial("1002", NUMBER, None)
    await until(lambda: any(isinstance(e, FarEndResult) and e.linkedid == linkedid and e.result == "answered"
                            for e in seen))
    await engine.bus.drain()  # type: ignore[attr-defined]
    await engine.logger.flush()
    view = engine.router.agent("1002")
    print(json.dumps({"linkedid": linkedid, "agent": [view.state.value, view.reason, view.not_ready_after_call]}),
          flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    run_loop(main(load_settings(**json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")))))
