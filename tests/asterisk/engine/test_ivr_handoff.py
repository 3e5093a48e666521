"""The IVR's hand-off to a queue is one variable action per call on a real Asterisk: the IVR's last
AGI command (one MSet) sets the dialplan's variables, the ACD's queue entry ``CTI_ACD`` and, for a
queue that records, the recording's file ``CTI_REC_FILE`` together; the engine sends no AMI
``Setvar`` of either after it, and no ``Redirect`` of the waiting caller: the dialplan after the
IVR starts MixMonitor. The channel carries the entry a restarted engine reads (acd.recovery)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from acd.recovery import ENTRY_VAR, QueueEntry, decode_entry
from callcenter.engine import Engine
from crm_core.recorder import REC_FILE_VAR
from cti.agi.protocol import AgiConversation
from cti.events import Event
from cti.journey import IvrFinished, QueueEntered, RecordingStarted
from tests.helpers import customer_number, place_call, until

TEST_OWN = frozenset({"Originate", "PlayDTMF", "Getvar"})  # the test's caller and its own reads


async def hand_off_one(eng: Engine, seen: list[Event], monkeypatch: pytest.MonkeyPatch,
                       ) -> tuple[Counter[str], list[tuple[str, ...]], QueueEntered]:
    """One known caller through the IVR into support; returns the engine's AMI actions on the
    caller's channel from the call's start until 1 s after it was queued (name, or
    ``Setvar:<variable>``), the IVR's AGI commands setting the dialplan's CTI_ variables, and the
    QueueEntered."""
    sent: list[tuple[str, str]] = []  # (action, channel)
    client = eng.ami.client
    submit = client.submit_action

    def counting(action: str, headers: Any, **kw: Any) -> Any:
        if action not in TEST_OWN:
            sent.append((f"Setvar:{headers.get('Variable')}" if action == "Setvar" else action,
                         str(headers.get("Channel", ""))))
        return submit(action, headers, **kw)

    agi_sets: list[tuple[str, ...]] = []
    command, last_command = AgiConversation._command, AgiConversation._last_command

    def is_set(words: tuple[str, ...]) -> bool:  # the dialplan's CTI_ variables (not CHANNEL(language) & co)
        return (words[0] == "SET VARIABLE" and words[1].startswith("CTI_")) or words[:2] == ("EXEC", "MSet")

    async def recorded(self: AgiConversation, words: tuple[str, ...], wait_s: float = 0.0) -> Any:
        if is_set(words):
            agi_sets.append(words)
        return await command(self, words, wait_s)

    async def recorded_last(self: AgiConversation, words: tuple[str, ...]) -> None:
        if is_set(words):
            agi_sets.append(words)
        await last_command(self, words)

    monkeypatch.setattr(client, "submit_action", counting)
    monkeypatch.setattr(AgiConversation, "_command", recorded)
    monkeypatch.setattr(AgiConversation, "_last_command", recorded_last)
    _, _, number = await customer_number(eng)
    queued = await place_call(eng, lambda: [e for e in seen if isinstance(e, QueueEntered)], number)
    await asyncio.sleep(1.0)  # a Setvar the enqueue spawned would be out by now
    monkeypatch.undo()
    assert not [a for a, _ in sent if a == f"Setvar:{ENTRY_VAR}"], sent  # on no channel at all
    return Counter(a for a, channel in sent if channel == queued.channel), agi_sets, queued


async def test_the_hand_off_sets_the_queue_entry_in_the_ivr_s_one_mset(engine: tuple[Engine, list[Event]],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    eng, seen = engine
    # Logged in but not ready: the caller waits in support (nobody logged in would move it).
    await eng.desk.login_queues("1001", ["support", "general"])
    sent, agi_sets, queued = await hand_off_one(eng, seen, monkeypatch)
    ivr = next(e for e in seen if isinstance(e, IvrFinished) and e.linkedid == queued.linkedid)
    print(f"AMI actions on the caller's channel from its start to 1 s after its enqueue: {dict(sent)}; "
          f"IVR AGI commands setting CTI_ variables: {len(agi_sets)}")

    # The IVR's last word is one MSet holding the entry; the engine writes no CTI_ACD over AMI.
    assert len(agi_sets) == 1 and agi_sets[0][:2] == ("EXEC", "MSet"), agi_sets
    assert f"{ENTRY_VAR}=v2|{queued.linkedid}|support|" in agi_sets[0][2]
    assert f"Setvar:{ENTRY_VAR}" not in sent, sent
    # Support records every call: the file rides in the same MSet, MixMonitor runs from the dialplan
    # (cti-inbound -> cti-record-start), and the recorder adopts it: no Setvar, no Redirect.
    # The recorder's own subscriber publishes it on the QueueEntered: waited for, not looked at once.
    started = await until(lambda: next((e for e in seen if isinstance(e, RecordingStarted)
                                        and e.linkedid == queued.linkedid), None), what="RecordingStarted")
    rec_file = f"{eng.recorder.store.pbx_dir}/{started.file}"
    assert f"{REC_FILE_VAR}={rec_file}," in agi_sets[0][2], agi_sets[0]
    assert f"Setvar:{REC_FILE_VAR}" not in sent and "Redirect" not in sent, sent
    assert await eng.ami.control.get_var(queued.channel, "MIXMONITOR_FILENAME") == rec_file
    assert eng.recorder.active[queued.linkedid].path == started.file
    # The run's first hand-off proved the dialplan starts what it is handed (one Getvar, once: an
    # AMI round trip in a task of the recorder's, which the 1 s after the enqueue only hoped for).
    await until(lambda: eng.recorder.handoff.works is not None, what="the recording hand-off proven either way")
    assert eng.recorder.handoff.works is True

    # What the channel carries is what a restarted engine's recovery reads: this call's entry.
    assert eng.router.call(queued.linkedid).queue == "support"
    text = await eng.ami.control.get_var(queued.channel, ENTRY_VAR)
    entry = decode_entry(text)
    assert entry == QueueEntry(queued.linkedid, "support", eng.acd.calls[queued.linkedid].queued_at,
                               ivr.priority, ivr.customer_id, ivr.skills or None, ivr.caller_number), text
    assert ivr.skills and len(ivr.skills) == 2  # support and the caller's language: ';' rides in the MSet
