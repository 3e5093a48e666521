"""PJSIP endpoint names the engine and the PBX configuration agree on (no imports: anyone may use it)."""

WEBRTC_PREFIX = "web"  # the browser softphone of agent extension 1001 is PJSIP endpoint web1001
FIRST_EXTENSION = 1001  # agent endpoints (desk 1001, browser web1001, ...) count up from here


def agent_extensions(count: int) -> list[str]:
    """The extensions ``cti pbx up`` writes endpoints for (``pbx.agent_endpoints`` of them): 1001, 1002, ..."""
    return [str(n) for n in range(FIRST_EXTENSION, FIRST_EXTENSION + count)]


def has_endpoint(extension: str, count: int) -> bool:
    """Whether ``extension`` is one of ``agent_extensions(count)``."""
    return extension.isdigit() and FIRST_EXTENSION <= int(extension) < FIRST_EXTENSION + count


def last_extension(count: int) -> int:
    return FIRST_EXTENSION + count - 1


def webrtc_endpoint(extension: str) -> str:
    """The PJSIP endpoint (and SIP user name) of an agent's browser softphone."""
    return f"{WEBRTC_PREFIX}{extension}"
