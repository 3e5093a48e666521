"""The garbage collector's set-up once a process has built its long-lived objects.

``settle_heap()`` is what the engine does at the end of its start-up (callcenter.engine); the
benches that measure loop stalls call it too, after their own set-up, so that they measure the
collector as the engine runs it rather than CPython's defaults.
"""

from __future__ import annotations

import gc

# A larger young generation keeps collections out of the router's p99 (bench/routing.py) and the
# call logger's loop stalls (bench/call_logging.py); CPython's default is 700 (2,000 from 3.13).
YOUNG_THRESHOLD = 20_000


def settle_heap() -> None:
    """Collect once, then freeze what is alive: start-up objects never die, and the collector no
    longer scans them (the long GC pauses seen with a thousand live sessions, bench/fastagi.py).
    Then the larger young generation."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 10, 10)
