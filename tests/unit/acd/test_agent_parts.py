"""A transferred call's agents, each with their own part (acd.agent_parts; docs/kpis.md, *Transferred
calls*): one record for the queue, one per agent for the per-agent figures."""

from __future__ import annotations

import dataclasses

import pytest

from acd.agent_parts import AgentPart, Piece, parts_of
from acd.kpis import CallRecord, Outcome, interval_report, per_agent, summarize

A = AgentPart(agent_id="a", talk_s=45.0, hold_s=30.0, acw_s=5.0, held=True, disposition="transferred")
B = AgentPart(agent_id="b", talk_s=110.0, acw_s=23.0, disposition="info_given")
CALL = CallRecord(linkedid="x", arrived_at=0.0, outcome=Outcome.ANSWERED, offered=True, queue="support",
                  agent_id="b", entered_queue_at=10.0, answered_at=15.0, ended_at=200.0, wait_s=5.0,
                  talk_s=155.0, hold_s=30.0, acw_s=28.0, held=True, disposition="info_given", resolved=True,
                  case_id="7", csat=5, parts=(A, B))


def test_parts_of_the_segments_an_attended_transfer_leaves() -> None:
    pieces = [Piece("queue", None, 10.0, 15.0, 5.0),
              Piece("talk", "a", 15.0, 90.0, 75.0), Piece("hold", "a", 60.0, 90.0, 30.0),
              Piece("talk", "b", 90.0, 200.0, 110.0),
              Piece("wrapup", "a", 90.0, 95.0, 5.0, "transferred"),
              Piece("wrapup", "b", 200.0, 223.0, 23.0, "info_given")]
    assert parts_of(reversed(pieces)) == (A, B)  # in the order the agents first talked


def test_one_record_per_agent_the_answer_with_the_first_the_contact_with_the_last() -> None:
    first, last = per_agent(CALL)
    assert (first.agent_id, first.handle_s, first.offered, first.wait_s, first.contact) == ("a", 80.0, True, 5.0, False)
    assert (first.resolved, first.case_id, first.csat, first.disposition) == (False, None, None, "transferred")
    assert (last.agent_id, last.handle_s, last.offered, last.wait_s, last.contact) == ("b", 133.0, False, 0.0, True)
    assert (last.resolved, last.case_id, last.csat, last.disposition) == (True, "7", 5, "info_given")
    assert first.handle_s + last.handle_s == CALL.handle_s
    assert per_agent(CallRecord(linkedid="y", arrived_at=0.0, outcome=Outcome.ANSWERED, agent_id="a")) != []


def test_the_queue_counts_the_call_once_each_agent_their_part() -> None:
    total = summarize([CALL])
    assert (total.offered, total.handled, total.aht_s, total.resolved_issues) == (1, 1, 213.0, 1)
    rows = {r.key: r.kpis for r in interval_report([CALL], interval="day", tz="UTC", group_by="agent")}
    assert {k: (v.offered, v.answered, v.handled, v.aht_s, v.resolved_issues, v.csat_answers)
            for k, v in rows.items()} == {"a": (1, 1, 1, 80.0, 0, 0), "b": (0, 0, 1, 133.0, 1, 1)}
    (queue,) = [r.kpis for r in interval_report([CALL], interval="day", tz="UTC", group_by="queue")]
    assert (queue.handled, queue.aht_s) == (1, pytest.approx(213.0))


def test_an_agent_who_only_wrapped_up_has_a_part_of_after_call_work() -> None:
    """A consulted agent whose consultation the caller's hang-up ended wraps the call up without
    having talked with the caller: their after-call work is their part (docs/kpis.md), after the
    agents who talked. Before, they had none and their wrap-up was in no agent's row."""
    pieces = [Piece("talk", "a", 15.0, 90.0, 75.0), Piece("hold", "a", 60.0, 90.0, 30.0),
              Piece("wrapup", "c", 90.0, 100.0, 10.0, "consulted"),
              Piece("wrapup", "a", 90.0, 95.0, 5.0, "resolved")]
    assert parts_of(pieces) == (
        AgentPart(agent_id="a", talk_s=45.0, hold_s=30.0, acw_s=5.0, held=True, disposition="resolved"),
        AgentPart(agent_id="c", talk_s=0.0, acw_s=10.0, disposition="consulted"))
    # Nobody talked with the caller: nobody handled the call, whoever wrapped it up.
    assert parts_of([Piece("wrapup", "c", 90.0, 100.0, 10.0)]) == ()


def test_the_wrap_up_only_agent_handled_the_call_with_their_after_call_work() -> None:
    a = AgentPart(agent_id="a", talk_s=45.0, hold_s=30.0, acw_s=5.0, held=True, disposition="resolved")
    c = AgentPart(agent_id="c", talk_s=0.0, acw_s=10.0, disposition="consulted")
    call = CallRecord(linkedid="x", arrived_at=0.0, outcome=Outcome.ANSWERED, offered=True, queue="support",
                      agent_id="a", entered_queue_at=10.0, answered_at=15.0, ended_at=90.0, wait_s=5.0,
                      talk_s=45.0, hold_s=30.0, acw_s=15.0, held=True, disposition="resolved", resolved=True,
                      case_id="7", parts=(a, c))
    rows = {r.key: r.kpis for r in interval_report([call], interval="day", tz="UTC", group_by="agent")}
    assert {k: (v.offered, v.answered, v.handled, v.aht_s, v.resolved_issues)
            for k, v in rows.items()} == {"a": (1, 1, 1, 80.0, 1), "c": (0, 0, 1, 10.0, 0)}
    assert summarize([call]).aht_s == 90.0  # the call's: every agent's work once


def test_a_consulted_agents_consultation_is_their_talk() -> None:
    """The consulted agent of an attended transfer talks with the transferring agent first (a
    ``consult`` segment of theirs, 65..90), then with the caller: both are their talk (docs/kpis.md),
    as the agent state history counts them on call. The transferring agent's consultation is their
    hold (the caller's). Before, the consultation was in no agent's part."""
    pieces = [Piece("talk", "a", 15.0, 90.0, 75.0), Piece("hold", "a", 60.0, 90.0, 30.0),
              Piece("consult", "b", 65.0, 90.0, 25.0),
              Piece("talk", "b", 90.0, 200.0, 110.0),
              Piece("wrapup", "a", 90.0, 95.0, 5.0, "transferred"),
              Piece("wrapup", "b", 200.0, 223.0, 23.0, "info_given")]
    assert parts_of(reversed(pieces)) == (A, dataclasses.replace(B, talk_s=135.0))


def test_a_consultation_cancelled_or_cut_by_the_caller_is_a_part_after_the_callers_agents() -> None:
    cancelled = [Piece("talk", "a", 15.0, 120.0, 105.0), Piece("hold", "a", 60.0, 75.0, 15.0),
                 Piece("consult", "c", 65.0, 75.0, 10.0), Piece("wrapup", "a", 120.0, 125.0, 5.0, "resolved")]
    assert parts_of(cancelled) == (
        AgentPart(agent_id="a", talk_s=90.0, hold_s=15.0, acw_s=5.0, held=True, disposition="resolved"),
        AgentPart(agent_id="c", talk_s=10.0))
    caller_left = [Piece("talk", "a", 15.0, 90.0, 75.0), Piece("hold", "a", 60.0, 90.0, 30.0),
                   Piece("consult", "c", 65.0, 90.0, 25.0), Piece("wrapup", "c", 90.0, 100.0, 10.0),
                   Piece("wrapup", "a", 90.0, 95.0, 5.0, "resolved")]
    assert [(p.agent_id, p.talk_s, p.acw_s) for p in parts_of(caller_left)] == [("a", 45.0, 5.0), ("c", 25.0, 10.0)]
    # A consultation is no talk with the caller: a call nobody talked with was handled by nobody.
    assert parts_of([Piece("consult", "c", 65.0, 75.0, 10.0)]) == ()
