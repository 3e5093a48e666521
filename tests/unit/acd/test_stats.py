"""Live queue statistics count as the reports do (KPIS.md; acd.kpis)."""

from acd.stats import QueueStats


def test_short_abandons_leave_service_level_and_abandon_rate() -> None:
    st = QueueStats(service_level_s=20.0, short_abandon_s=5.0)
    for _ in range(7):
        st.entered()
    st.answered_after(10.0)
    st.answered_after(20.0)  # within T (20 s counts)
    st.answered_after(45.0)
    st.abandoned_after(3.0)  # short
    st.abandoned_after(5.0)  # short: "within 5 s" includes 5
    st.abandoned_after(30.0)
    st.overflowed_out()  # offered here, answered elsewhere
    snap = st.snapshot("support", waiting=0, ringing=0, connected=0, longest_wait_s=0.0,
                       agents_logged_in=1, agents_available=1)
    assert snap.abandoned_short == 2
    # Denominator: the 7 calls that left the queue minus the 2 short abandons.
    assert snap.service_level == 2 / 5
    assert snap.abandon_rate == 1 / 5
    assert snap.short_abandons_excluded


def test_a_pbx_crash_under_a_waiting_call_is_no_abandon() -> None:
    s = QueueStats(service_level_s=20.0, short_abandon_s=5.0)
    s.entered()
    s.answered_after(3.0)
    s.entered()
    s.cut_by_system()
    snap = s.snapshot("q", waiting=0, ringing=0, connected=0, longest_wait_s=0.0, agents_logged_in=1,
                      agents_available=1)
    assert (snap.abandoned, snap.system_failures, snap.service_level, snap.abandon_rate) == (0, 1, 1.0, 0.0)


def test_a_call_moved_away_leaves_the_denominators_of_the_queue_it_left() -> None:
    """A supervisor's move (docs/kpis.md, moved between queues): the queue it went to counts the call;
    the one it left only says it moved, in no service level or abandon rate."""
    st = QueueStats(service_level_s=20.0, short_abandon_s=5.0)
    for _ in range(3):
        st.entered()
    st.answered_after(10.0)
    st.abandoned_after(30.0)
    st.moved_away()
    snap = st.snapshot("support", waiting=0, ringing=0, connected=0, longest_wait_s=0.0,
                       agents_logged_in=1, agents_available=1)
    assert (snap.offered, snap.moved, snap.overflowed) == (3, 1, 0)
    assert (snap.service_level, snap.abandon_rate) == (1 / 2, 1 / 2)
