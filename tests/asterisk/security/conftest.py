"""The supervisor tier's running Engine (tests/asterisk/supervisor/conftest.py) and the engine tier's
recorded Engine (tests/asterisk/engine/conftest.py), on the test Asterisk."""

from tests.asterisk.engine.conftest import engine as engine
from tests.asterisk.supervisor.conftest import Running as Running
from tests.asterisk.supervisor.conftest import running as running

__all__ = ["Running", "engine", "running"]
