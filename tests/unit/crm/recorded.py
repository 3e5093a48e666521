"""Recorded journey event sequences (wire form, one event a line) used by the call-log tests."""

from __future__ import annotations

from pathlib import Path

from cti.events import Event, from_wire

JOURNEYS = Path(__file__).parent / "journeys"
NAMES = ("answered", "abandoned_ivr", "abandoned_queue", "transferred", "voicemail")
# Written in the order and with the figures their publishers send (acd.delivery publishes an
# abandon's QueueLeft after the call model's CallEnded; the console's wrapup_s counted from the
# answer then): the fold must take the wait once and no talk as after-call work. Kept out of NAMES,
# which the web tests count on. ``wrapup_state_ends``: the ACD's ends of the agents' wrap-up states
# (agent.wrapup_ended) end their after-call work, a form or not (docs/kpis.md).
PUBLISHED = ("abandoned_queue_hangup_first", "transferred_wrapups", "wrapup_state_ends")
ALL_NAMES = NAMES + PUBLISHED


def load_journey(name: str) -> list[Event]:
    return [from_wire(line) for line in (JOURNEYS / f"{name}.jsonl").read_text().splitlines() if line.strip()]


# What each recorded call must become: interaction fields and the kinds of its segments in order.
EXPECTED: dict[str, tuple[dict[str, object], list[str]]] = {
    "answered": ({"outcome": "answered", "status": "complete", "queue": "billing", "agent_id": "agent2",
                  "wait_s": 30.6, "ring_s": 19.0, "talk_s": 150.0, "hold_s": 30.0, "acw_s": 30.0, "hold_count": 1,
                  "disposition": "resolved", "resolved_first_contact": True, "abandoned": False, "priority": 5,
                  "recording_file": "/var/spool/asterisk/monitor/1790000000.101.wav", "caller_number": "13800138000",
                  "notes": "账单已解释"},
                 ["ivr", "queue", "ringing", "ringing", "talk", "hold", "wrapup"]),
    "abandoned_ivr": ({"outcome": "abandoned_ivr", "status": "complete", "abandoned": True, "ivr_outcome": "abandoned",
                       "wait_s": 0.0, "talk_s": 0.0, "agent_id": None, "answered_at": None}, ["ivr"]),
    "abandoned_queue": ({"outcome": "abandoned_queue", "status": "complete", "abandoned": True, "queue": "sales",
                         "wait_s": 35.0, "talk_s": 0.0, "answered_at": None}, ["ivr", "queue", "ringing"]),
    "transferred": ({"outcome": "answered", "status": "complete", "agent_id": "agent5", "queue": "billing",
                     "transfer_count": 1, "talk_s": 180.0, "wait_s": 12.8, "acw_s": 20.0, "disposition": "info_given"},
                    ["ivr", "queue", "ringing", "talk", "transfer", "queue", "ringing", "talk", "wrapup"]),
    "voicemail": ({"outcome": "voicemail", "status": "complete", "abandoned": False, "wait_s": 120.0,
                   "voicemail_mailbox": "8000@cti", "queue": "sales"}, ["ivr", "queue"]),
    "abandoned_queue_hangup_first": ({"outcome": "abandoned_queue", "status": "complete", "abandoned": True,
                                      "queue": "sales", "wait_s": 28.0, "ring_s": 10.1, "talk_s": 0.0,
                                      "acw_s": 0.0, "answered_at": None}, ["ivr", "queue", "ringing"]),
    # agent4 wraps up (5.3 s after the transfer) while the caller waits for billing; agent5 finishes.
    "transferred_wrapups": ({"outcome": "answered", "status": "complete", "agent_id": "agent5", "queue": "billing",
                             "transfer_count": 1, "wait_s": 12.8, "ring_s": 6.0, "talk_s": 180.0, "hold_s": 0.0,
                             "acw_s": 10.6, "disposition": "info_given", "notes": "transferred from support"},
                            ["ivr", "queue", "ringing", "talk", "transfer", "wrapup", "queue", "ringing", "talk",
                             "wrapup"]),
    # agent6 never sends a form: the timer ends their wrap-up 10 s after the transfer; agent7's timer
    # ends theirs 10 s after the hang-up, their form 32 s later gives the disposition, not more ACW.
    "wrapup_state_ends": ({"outcome": "answered", "status": "complete", "agent_id": "agent7", "queue": "billing",
                           "transfer_count": 1, "wait_s": 9.8, "ring_s": 5.0, "talk_s": 180.0, "hold_s": 0.0,
                           "acw_s": 20.0, "disposition": "info_given", "notes": "invoice explained",
                           "resolved_first_contact": True},
                          ["ivr", "queue", "ringing", "talk", "transfer", "wrapup", "queue", "ringing", "talk",
                           "wrapup"]),
}
