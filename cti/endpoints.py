"""PJSIP endpoint names the engine and the PBX configuration agree on (no imports: anyone may use it)."""

WEBRTC_PREFIX = "web"  # the browser softphone of agent extension 1001 is PJSIP endpoint web1001


def webrtc_endpoint(extension: str) -> str:
    """The PJSIP endpoint (and SIP user name) of an agent's browser softphone."""
    return f"{WEBRTC_PREFIX}{extension}"
