"""The call model's bridges come from BridgeEnter and BridgeLeave alone: the engine's AMI user is
not sent BridgeCreate or BridgeDestroy (config/asterisk/manager.conf)."""

from __future__ import annotations

from cti.ami import events as ev
from cti.ami.callmodel import CallModel


def _chan(uid: str, name: str, ts: float = 1.0) -> ev.Newchannel:
    return ev.Newchannel(ts=ts, channel=name, uniqueid=uid, linkedid=uid, state=6)


def _enter(uid: str, name: str, bridge: str, ts: float, linkedid: str = "") -> ev.BridgeEnter:
    return ev.BridgeEnter(ts=ts, bridge_id=bridge, channel=name, uniqueid=uid, linkedid=linkedid or uid)


def _leave(uid: str, name: str, bridge: str, ts: float, linkedid: str = "") -> ev.BridgeLeave:
    return ev.BridgeLeave(ts=ts, bridge_id=bridge, channel=name, uniqueid=uid, linkedid=linkedid or uid)


def _two_in_a_bridge() -> CallModel:
    m = CallModel()
    m.apply(_chan("1", "PJSIP/caller-1"))
    m.apply(_chan("2", "PJSIP/agent-2"))
    m.apply(_enter("1", "PJSIP/caller-1", "br1", 2.0))
    m.apply(_enter("2", "PJSIP/agent-2", "br1", 3.0, linkedid="1"))
    return m


def test_the_first_bridge_enter_makes_the_bridge_and_peers_know_each_other() -> None:
    m = _two_in_a_bridge()
    assert m.bridges() == {"br1": ("1", "2")}
    peer = m.bridged_peer("PJSIP/agent-2")
    assert peer is not None and peer.uniqueid == "1"
    agent = m.bridged_peer("PJSIP/caller-1")
    assert agent is not None and agent.uniqueid == "2" and agent.bridge_id == "br1"


def test_the_bridge_is_gone_when_its_last_member_leaves() -> None:
    m = _two_in_a_bridge()
    m.apply(_leave("2", "PJSIP/agent-2", "br1", 4.0, linkedid="1"))
    assert m.bridges() == {"br1": ("1",)}
    assert m.bridged_peer("PJSIP/caller-1") is None
    m.apply(_leave("1", "PJSIP/caller-1", "br1", 5.0))
    assert m.bridges() == {}
    chan = m.channel("1")
    assert chan is not None and chan.bridge_id is None


def test_a_member_hung_up_without_its_bridge_leave_takes_an_emptied_bridge_with_it() -> None:
    m = _two_in_a_bridge()
    m.apply(ev.Hangup(ts=4.0, channel="PJSIP/agent-2", uniqueid="2", linkedid="1", cause=16))
    assert m.bridges() == {"br1": ("1",)}
    m.apply(ev.Hangup(ts=5.0, channel="PJSIP/caller-1", uniqueid="1", linkedid="1", cause=16))
    assert m.bridges() == {}


def test_entering_another_bridge_leaves_the_first() -> None:
    """A channel moved between bridges (a transfer's or a hold's) whose BridgeLeave we did not see."""
    m = _two_in_a_bridge()
    m.apply(_enter("2", "PJSIP/agent-2", "br2", 4.0, linkedid="1"))
    assert m.bridges() == {"br1": ("1",), "br2": ("2",)}
    m.apply(_leave("2", "PJSIP/agent-2", "br1", 4.1, linkedid="1"))  # late: no harm
    chan = m.channel("2")
    assert chan is not None and chan.bridge_id == "br2"
    assert m.bridges() == {"br1": ("1",), "br2": ("2",)}


def test_a_bridge_first_entered_during_a_resync_is_kept_though_the_snapshot_missed_it() -> None:
    m = CallModel()
    m.apply(_chan("1", "PJSIP/caller-1"))
    m.apply(_chan("2", "PJSIP/agent-2"))
    m.apply(_enter("1", "PJSIP/caller-1", "old", 2.0))  # a bridge that is gone after the reconnect
    m.apply(ev.ResyncStarted(ts=10.0))
    m.apply(_enter("1", "PJSIP/caller-1", "br9", 10.1))  # live events during the resync
    m.apply(_enter("2", "PJSIP/agent-2", "br9", 10.2, linkedid="1"))
    for snap in (ev.ChannelSnapshot(ts=10.0, channel="PJSIP/caller-1", uniqueid="1", linkedid="1", state=6),
                 ev.ChannelSnapshot(ts=10.0, channel="PJSIP/agent-2", uniqueid="2", linkedid="2", state=6)):
        m.apply(snap)
    m.apply(ev.ResyncFinished(ts=11.0))
    assert m.bridges() == {"br9": ("1", "2")}
    agent = m.bridged_peer("PJSIP/caller-1")
    assert agent is not None and agent.uniqueid == "2"


def test_a_resync_drops_bridges_asterisk_no_longer_has_and_lists_the_ones_it_has() -> None:
    m = _two_in_a_bridge()
    m.apply(ev.ResyncStarted(ts=10.0))
    for e in (ev.ChannelSnapshot(ts=10.0, channel="PJSIP/caller-1", uniqueid="1", linkedid="1", state=6,
                                 bridge_id="br5"),
              ev.ChannelSnapshot(ts=10.0, channel="PJSIP/agent-2", uniqueid="2", linkedid="1", state=6),
              ev.BridgeSnapshot(ts=10.0, bridge_id="br5", uniqueids=("1",)),
              ev.BridgeSnapshot(ts=10.0, bridge_id="empty", uniqueids=())):
        m.apply(e)
    m.apply(ev.ResyncFinished(ts=11.0))
    assert m.bridges() == {"br5": ("1",)}  # br1 is gone; a bridge without live members is not listed
    agent = m.channel("2")
    assert agent is not None and agent.bridge_id is None
