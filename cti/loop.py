"""The engine's event loop: uvloop (libuv) where it is installed, asyncio's own otherwise.

Every process the project ships (``cti run``, the console demo) and the end-to-end benchmark start
their loop here, so what is measured is what runs. uvloop cuts the loop's own cost (socket reads and
writes for AMI, FastAGI and the websockets, thread hand-offs from the database and journal threads)
by roughly a tenth of the engine's CPU per call (bench/RESULTS.md, issue 19). ``CTI_EVENT_LOOP=asyncio``
chooses asyncio's loop instead (to rule the loop out when chasing a bug); uvloop is not available on
Windows, where asyncio's loop is used.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_name() -> str:
    """``uvloop`` or ``asyncio``: the loop ``run`` will use."""
    if os.environ.get("CTI_EVENT_LOOP", "").strip().lower() == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the engine's loop."""
    if loop_name() == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)
