"""KPIs on a hand-made recorded call set whose answers were computed by hand (docs/KPIS.md)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acd import kpis, reports
from acd.errors import InvalidRequest
from acd.kpis import AgentTime, CallRecord, KpiPolicy, Outcome

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=SH).timestamp()  # a Monday, 09:00 local
DAY = 86400.0


def call(linkedid: str, at: float, outcome: Outcome, wait: float = 0.0, **kw: object) -> CallRecord:
    wanted = kw.pop("offered", True) is not False
    offered = outcome is not Outcome.ABANDONED_IVR and wanted
    fields: dict[str, object] = {"queue": "support"} if offered else {}
    fields.update(kw)
    return CallRecord(linkedid=linkedid, arrived_at=at - 30 - wait, outcome=outcome, offered=offered,
                      entered_queue_at=at if offered else None, wait_s=wait, **fields)  # type: ignore[arg-type]


A = Outcome.ANSWERED
CALLS = [
    call("c1", T0 + 60, A, 10, agent_id="a1", talk_s=200, acw_s=30, disposition="info", resolved=True),
    call("c2", T0 + 300, A, 30, agent_id="a2", talk_s=300, hold_s=60, held=True, acw_s=40, case_id="K1",
         disposition="billing"),
    call("c3", T0 + 1900, A, 20, agent_id="a1", talk_s=100, hold_s=20, held=True, acw_s=20, case_id="K2",
         resolved=True, disposition="info"),
    call("c4", T0 + 2000, Outcome.ABANDONED_QUEUE, 3),  # short abandon
    call("c5", T0 + 2100, Outcome.ABANDONED_QUEUE, 5),  # short abandon: exactly at the threshold
    call("c6", T0 + 2200, Outcome.ABANDONED_QUEUE, 45),
    call("c7", T0 + 2300, Outcome.ABANDONED_IVR),
    call("c8", T0 + 2400, Outcome.VOICEMAIL, 90),
    # Two days later the caller of case K1 is back: K1 is resolved now, but not on first contact.
    call("c9", T0 + 2 * DAY, A, 0, agent_id="a2", talk_s=150, acw_s=10, case_id="K1", resolved=True,
         disposition="billing"),
]
TIMES = [AgentTime(agent="a1", logged_in_s=3600, available_idle_s=1200, handle_s=1800, at=T0),
         AgentTime(agent="a2", logged_in_s=3600, available_idle_s=600, handle_s=2400, at=T0)]


def test_summary_with_short_abandons_excluded() -> None:
    s = kpis.summarize(CALLS, KpiPolicy(exclude_short_abandons=True), TIMES)
    assert (s.offered, s.short_abandons, s.offered_counted) == (8, 2, 6)
    assert (s.answered, s.answered_within_t, s.abandoned_queue) == (4, 3, 1)  # c1 10 s, c3 20 s, c9 0 s
    assert (s.abandoned_ivr, s.ivr_only, s.voicemail, s.callback_requested, s.failed) == (1, 1, 1, 0, 0)
    assert s.service_level == pytest.approx(3 / 6)
    assert s.abandon_rate == pytest.approx(1 / 6)
    # Every offered call, the excluded short abandons (3 s and 5 s) too: its definition has no exclusion.
    assert s.avg_queue_time_s == pytest.approx((10 + 30 + 20 + 45 + 90 + 0 + 3 + 5) / 8)
    assert s.asa_s == pytest.approx((10 + 30 + 20 + 0) / 4)
    assert s.handled == 4
    assert s.aht_s == pytest.approx((230 + 400 + 140 + 160) / 4)
    assert (s.held_calls, s.avg_hold_s) == (2, pytest.approx((60 + 20) / 2))
    assert s.max_wait_s == 90
    assert s.occupancy == pytest.approx(4200 / 6000)
    assert s.utilization == pytest.approx(4200 / 7200)
    assert (s.resolved_issues, s.resolved_first_contact) == (3, 2)  # c1 and K2 yes, K1 no
    assert s.fcr == pytest.approx(2 / 3)
    assert s.short_abandons_excluded and s.sl_seconds == 20 and s.short_abandon_s == 5
    assert "short abandons (<= 5 s) excluded" in s.basis and "20 s" in s.basis


def test_summary_with_short_abandons_counted() -> None:
    s = kpis.summarize(CALLS, KpiPolicy(exclude_short_abandons=False))
    assert (s.offered_counted, s.abandoned_queue, s.short_abandons) == (8, 3, 2)
    assert s.service_level == pytest.approx(3 / 8)
    assert s.abandon_rate == pytest.approx(3 / 8)
    assert s.avg_queue_time_s == pytest.approx((195 + 3 + 5) / 8)
    assert s.asa_s == pytest.approx(15.0)  # abandons never touch ASA
    assert s.occupancy is None and s.utilization is None  # no agent time given
    assert "short abandons (<= 5 s) counted" in s.basis


def test_threshold_changes_sl() -> None:
    assert kpis.summarize(CALLS, KpiPolicy(sl_seconds=30)).service_level == pytest.approx(4 / 6)
    assert kpis.summarize(CALLS, KpiPolicy(sl_seconds=10)).service_level == pytest.approx(2 / 6)
    assert kpis.summarize(CALLS, KpiPolicy(short_abandon_s=2)).short_abandons == 0


def test_empty_set_has_no_rates() -> None:
    s = kpis.summarize([])
    assert s.offered == 0 and s.max_wait_s == 0.0
    assert None is s.service_level is s.asa_s is s.abandon_rate is s.aht_s is s.avg_hold_s is s.fcr


def test_fcr_rules() -> None:
    r = [
        call("x1", T0, A, agent_id="a", case_id="K3", resolved=True),
        call("x2", T0 + 8 * DAY, A, agent_id="a", case_id="K3", resolved=True),  # > 7 days later: a new issue
        call("x3", T0, A, agent_id="a", case_id="K4", resolved=True),
        call("x3b", T0 + 2 * DAY, A, agent_id="b", case_id="K4"),  # a repeat contact on K4 within 7 days
        call("x4", T0, A, agent_id="a", case_id="K5", resolved=False),  # never resolved: not in the denominator
        call("x5", T0, A, agent_id="a", case_id="K6", resolved=True),
        call("x6", T0 + 3 * DAY, Outcome.ABANDONED_QUEUE, 40, case_id="K6"),  # tried again on K6 within 7 days
    ]
    s = kpis.summarize(r)
    assert (s.resolved_issues, s.resolved_first_contact) == (4, 2)  # K3 twice; K4 and K6 are repeats
    assert kpis.summarize(r, KpiPolicy(fcr_days=10)).resolved_first_contact == 0  # K3 becomes one issue


def test_records_refuse_inconsistencies() -> None:
    with pytest.raises(InvalidRequest, match="wait_s"):
        call("bad", T0, A, -1)
    with pytest.raises(InvalidRequest) as info:
        CallRecord(linkedid="bad", arrived_at=T0, outcome=Outcome.ABANDONED_QUEUE)
    assert info.value.field == "offered"
    with pytest.raises(InvalidRequest) as info:
        CallRecord(linkedid="bad", arrived_at=T0, outcome=A, offered=True)
    assert info.value.field == "queue"


def test_longest_wait_is_the_age_of_the_oldest_waiting_call() -> None:
    assert kpis.longest_wait([100.0, 40.0, 130.0], now=160.0) == 120.0
    assert kpis.longest_wait([], now=160.0) == 0.0


def test_rolling_window_and_today() -> None:
    now = T0 + 2300
    assert [r.linkedid for r in kpis.in_window(CALLS, now, 15)] == ["c3", "c4", "c5", "c6", "c7"]
    assert [r.linkedid for r in kpis.in_window(CALLS, now, 5)] == ["c5", "c6", "c7"]  # (now - 300, now]
    assert len(kpis.today(CALLS, now, SH)) == 7  # c8 is not yet, c9 two days later
    assert len(kpis.today(CALLS, T0 + 3000, SH)) == 8
    assert [r.linkedid for r in kpis.today(CALLS, T0 + 2 * DAY + 10, SH)] == ["c9"]


def test_bucket_starts_in_the_local_zone() -> None:
    ts = datetime(2026, 11, 25, 14, 44, 59, tzinfo=SH).timestamp()  # a Wednesday
    starts = {i: datetime.fromtimestamp(kpis.bucket_start(ts, i, SH), SH) for i in kpis.INTERVALS}
    assert starts["15m"] == datetime(2026, 11, 25, 14, 30, tzinfo=SH)
    assert starts["30m"] == datetime(2026, 11, 25, 14, 30, tzinfo=SH)
    assert starts["60m"] == datetime(2026, 11, 25, 14, 0, tzinfo=SH)
    assert starts["day"] == datetime(2026, 11, 25, tzinfo=SH)
    assert starts["week"] == datetime(2026, 11, 23, tzinfo=SH)  # Monday
    # The same instant is still the 24th in New York.
    ny = ZoneInfo("America/New_York")
    assert datetime.fromtimestamp(kpis.bucket_start(ts, "day", ny), ny) == datetime(2026, 11, 25, tzinfo=ny)
    assert datetime.fromtimestamp(kpis.bucket_start(ts - 86400, "day", ny), ny).day == 24


def test_buckets_across_a_dst_fall_back() -> None:
    ny = ZoneInfo("America/New_York")
    first = datetime(2026, 11, 1, 5, 30, tzinfo=ZoneInfo("UTC")).timestamp()  # 01:30 EDT
    second = first + 3600  # 01:30 EST, the repeated hour
    assert kpis.bucket_start(second, "60m", ny) - kpis.bucket_start(first, "60m", ny) == 3600
    day = kpis.bucket_start(first, "day", ny)
    assert kpis.next_bucket(day, "day", ny) - day == 25 * 3600


def test_interval_report_30m_fills_empty_buckets() -> None:
    rows = kpis.interval_report(CALLS, interval="30m", tz=SH, start=T0, end=T0 + 2 * 3600, agent_times=TIMES)
    assert [r.start_local for r in rows] == ["2026-11-23T09:00:00+08:00", "2026-11-23T09:30:00+08:00",
                                             "2026-11-23T10:00:00+08:00", "2026-11-23T10:30:00+08:00"]
    first, second, third, _ = rows
    assert (first.kpis.offered, first.kpis.answered, first.kpis.service_level) == (2, 2, 0.5)  # c1, c2
    assert first.kpis.occupancy == pytest.approx(0.7)  # agent time starting at T0
    # 09:30-10:00: c3 (20 s), c4, c5 short abandons excluded, c6 abandoned, c8 voicemail; c7 is IVR-only.
    assert (second.kpis.offered, second.kpis.offered_counted, second.kpis.answered_within_t) == (5, 3, 1)
    assert second.kpis.service_level == pytest.approx(1 / 3)
    assert (second.kpis.abandon_rate, second.kpis.abandoned_ivr) == (pytest.approx(1 / 3), 1)
    assert third.kpis.offered == 0 and third.kpis.service_level is None
    assert all(r.key == "" and r.group_by is None for r in rows)


def test_daily_report_counts_fcr_issues_where_they_started() -> None:
    rows = kpis.interval_report(CALLS, interval="day", tz=SH)
    assert [r.start_local[:10] for r in rows] == ["2026-11-23", "2026-11-25"]
    assert (rows[0].kpis.resolved_issues, rows[0].kpis.resolved_first_contact) == (3, 2)
    assert rows[1].kpis.resolved_issues == 0 and rows[1].kpis.fcr is None


@pytest.mark.parametrize(("group_by", "keys"), [
    ("queue", ["", "support"]),
    ("agent", ["", "a1", "a2"]),
    ("disposition", ["", "billing", "info"]),
    ("outcome", ["abandoned_ivr", "abandoned_queue", "answered", "voicemail"]),
])
def test_weekly_report_grouped(group_by: kpis.GroupBy, keys: list[str]) -> None:
    rows = kpis.interval_report(CALLS, interval="week", tz=SH, group_by=group_by, agent_times=TIMES)
    assert [r.key for r in rows] == keys
    assert sum(r.kpis.offered for r in rows) == 8
    if group_by == "agent":
        a1 = rows[1].kpis
        assert (a1.handled, a1.aht_s, a1.occupancy) == (2, pytest.approx(185.0), pytest.approx(1800 / 3000))
    else:
        assert all(r.kpis.occupancy is None for r in rows)


def test_report_filters() -> None:
    other = dataclasses.replace(CALLS[0], linkedid="o1", queue="billing", agent_id="a3")
    rows = kpis.interval_report([*CALLS, other], interval="day", tz=SH, queues=["billing"])
    assert [(r.kpis.offered, r.kpis.handled) for r in rows] == [(1, 1)]
    rows = kpis.interval_report([*CALLS, other], interval="week", tz=SH, agents=["a2"])
    assert rows[0].kpis.handled == 2
    with pytest.raises(InvalidRequest):
        kpis.interval_report(CALLS, interval="5m", tz=SH)  # type: ignore[arg-type]


def test_a_handled_call_that_was_never_queued_is_not_ivr_only() -> None:
    """A call answered without a queue (a virtual-hold callback call, a direct call) is handled, not
    offered, and did not end in the IVR: KPIS.md counts IVR-only calls apart, and it is not one."""
    leg = call("cb", T0 + 60, A, offered=False, queue="support", agent_id="a1", talk_s=90, acw_s=10)
    s = kpis.summarize([leg, call("c7", T0 + 70, Outcome.ABANDONED_IVR)])
    assert (s.offered, s.handled, s.ivr_only, s.abandoned_ivr, s.aht_s) == (0, 1, 1, 1, 100)


_outcomes = st.sampled_from(list(Outcome))


@st.composite
def _records(draw: st.DrawFn) -> list[CallRecord]:
    out = []
    for i in range(draw(st.integers(0, 30))):
        outcome = draw(_outcomes)
        wait = draw(st.floats(0, 300))
        agent = "a1" if outcome is A else None
        out.append(call(f"h{i}", T0 + draw(st.floats(0, 3 * DAY)), outcome, wait, agent_id=agent,
                        talk_s=draw(st.floats(0, 600)), hold_s=draw(st.floats(0, 60)),
                        case_id=draw(st.sampled_from([None, "K1", "K2"])), resolved=draw(st.booleans()),
                        offered=draw(st.booleans()) or outcome is Outcome.ABANDONED_QUEUE))
    return out


@given(records=_records(), exclude=st.booleans())
def test_invariants(records: list[CallRecord], exclude: bool) -> None:
    s = kpis.summarize(records, KpiPolicy(exclude_short_abandons=exclude))
    assert s.answered_within_t <= s.answered <= s.offered and s.offered_counted <= s.offered
    assert s.offered + s.ivr_only + sum(1 for r in records if r.handled and not r.offered) == len(records)
    assert s.answered + s.abandoned_queue + (s.short_abandons if exclude else 0) <= s.offered
    for rate in (s.service_level, s.abandon_rate, s.fcr):
        assert rate is None or 0 <= rate <= 1
    assert s.resolved_first_contact <= s.resolved_issues
    # Interval rows add up to the whole, whatever the interval.
    for interval in ("60m", "day"):
        rows = kpis.interval_report(records, interval=interval, tz=SH)
        assert sum(r.kpis.offered for r in rows) == s.offered
        assert sum(r.kpis.resolved_issues for r in rows) == s.resolved_issues


def test_csat_per_agent_and_queue() -> None:
    """CSAT: the mean survey score and the share of 4-5 answers, over answered surveys only."""
    scored = [dataclasses.replace(CALLS[0], csat=5), dataclasses.replace(CALLS[1], csat=2),
              dataclasses.replace(CALLS[2], csat=4), *CALLS[3:]]
    s = kpis.summarize(scored)
    assert (s.csat_answers, s.csat_avg, s.csat_satisfied) == (3, pytest.approx(11 / 3), pytest.approx(2 / 3))
    a1 = kpis.summarize([r for r in scored if r.agent_id == "a1"])
    assert (a1.csat_answers, a1.csat_avg, a1.csat_satisfied) == (2, 4.5, 1.0)
    none = kpis.summarize(CALLS)
    assert (none.csat_answers, none.csat_avg, none.csat_satisfied) == (0, None, None)
    assert {"csat_avg", "csat_satisfied", "csat_answers"} <= set(reports.KPI_COLUMNS)


def test_calls_cut_by_a_pbx_crash_are_counted_apart_not_as_abandons() -> None:
    cut = [call("x1", T0 + 100, Outcome.SYSTEM_FAILURE, 40), call("x2", T0 + 200, Outcome.SYSTEM_FAILURE, 2,
                                                                  agent_id="a1", talk_s=50)]
    base = kpis.summarize(CALLS[:3])
    s = kpis.summarize([*CALLS[:3], *cut])
    assert s.system_failures == 2 and s.abandoned_queue == 0
    assert (s.service_level, s.abandon_rate, s.offered_counted) == (base.service_level, base.abandon_rate,
                                                                    base.offered_counted)
    assert s.handled == base.handled  # a cut call is not a handled one
