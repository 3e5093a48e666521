"""The supervisor tier's running Engine on the test Asterisk (tests/asterisk/supervisor/conftest.py)."""

from tests.asterisk.supervisor.conftest import Running as Running
from tests.asterisk.supervisor.conftest import running as running

__all__ = ["Running", "running"]
