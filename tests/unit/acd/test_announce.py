from acd.announce import announcement


def test_next_in_line_and_short_wait() -> None:
    assert announcement(1, 30) == [("sound", "queue-youarenext"), ("sound", "queue-holdtime"),
                                   ("sound", "queue-less-than"), ("number", 1), ("sound", "queue-minute"),
                                   ("sound", "queue-thankyou")]


def test_position_counts_calls_ahead_and_minutes_round() -> None:
    said = announcement(4, 150)
    assert said[:3] == [("sound", "queue-thereare"), ("number", 3), ("sound", "queue-callswaiting")]
    assert ("number", 2) in said and ("sound", "queue-minutes") in said


def test_an_uncertain_estimate_is_said_as_a_range_of_minutes() -> None:
    said = announcement(2, 240, 120, 360)
    assert said[3:8] == [("sound", "queue-holdtime"), ("number", 2), ("sound", "vm-and"), ("number", 6),
                         ("sound", "queue-minutes")]
    # A range inside one minute is one figure again.
    assert ("sound", "vm-and") not in announcement(1, 70, 60, 80)
