"""The live demo: demo callers through the real Asterisk and bot agents that answer and wrap up."""

from __future__ import annotations

from typing import Any


class Demo:
    def __init__(self, engine: Any, *, callers_per_minute: float = 6.0, bot_agents: int = 6) -> None:
        self.engine = engine
        self.callers_per_minute = callers_per_minute
        self.bot_agents = bot_agents

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def summary(self) -> dict[str, Any]:
        return {}
