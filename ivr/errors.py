"""Errors of the IVR.

    CtiError (cti.errors)
    ├── ConfigError
    │   └── FlowInvalid          one or more flow files are invalid (every problem listed)
    └── IvrError
        └── IllegalTransition    an event arrived that the IVR session's state does not accept
"""

from __future__ import annotations

from cti.errors import ConfigError, CtiError


class FlowInvalid(ConfigError):
    code = "ivr_flow_invalid"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid IVR flow(s):\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


class IvrError(CtiError):
    code = "ivr_error"
    http_status = 500


class DirectoryUnavailable(IvrError):
    """The customer directory (the CRM) cannot answer now: the caller goes on unidentified."""

    code = "ivr_directory_unavailable"
    http_status = 503


class IllegalTransition(IvrError):
    code = "ivr_illegal_transition"
