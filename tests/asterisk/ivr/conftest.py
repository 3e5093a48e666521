"""Fixtures of the IVR tests against a real Asterisk."""

from tests.asterisk.ivr.rig import rig

__all__ = ["rig"]
