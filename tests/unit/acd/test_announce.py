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
    # "The estimated hold time is currently between 2 and 6 minutes": Asterisk has no "between" (the
    # range was said "2 and 6 minutes"), the project's own prompt says it.
    assert said[3:9] == [("sound", "queue-holdtime"), ("sound", "cti/queue_between"), ("number", 2),
                         ("sound", "vm-and"), ("number", 6), ("sound", "queue-minutes")]
    # A range inside one minute is one figure again.
    assert ("sound", "vm-and") not in announcement(1, 70, 60, 80)


def test_a_chinese_speaking_caller_is_told_in_the_project_s_own_chinese_prompts() -> None:
    # Asterisk's queue-* prompts and its numbers are English only: a zh channel fell back to them.
    said = announcement(4, 150, language="zh")
    assert said == [("sound", "cti/queue_ahead"), ("sound", "cti/num_3"), ("sound", "cti/queue_callers"),
                    ("sound", "cti/queue_wait"), ("sound", "cti/num_2"), ("sound", "cti/queue_minutes"),
                    ("sound", "cti/queue_thanks")]
    assert announcement(1, 30, language="zh-CN") == [("sound", "cti/queue_next"), ("sound", "cti/queue_under_minute"),
                                                     ("sound", "cti/queue_thanks")]
    assert announcement(2, 240, 120, 360, language="zh_TW")[3:8] == [
        ("sound", "cti/queue_wait"), ("sound", "cti/num_2"), ("sound", "cti/queue_to"), ("sound", "cti/num_6"),
        ("sound", "cti/queue_minutes")]
    # Past the numbers there are prompts for: "more than twenty".
    assert announcement(30, 0, language="zh")[1:3] == [("sound", "cti/queue_over"), ("sound", "cti/num_20")]
    assert all(kind == "sound" for kind, _ in announcement(25, 3600, language="zh"))


def test_the_chinese_prompts_the_announcement_uses_are_all_in_prompts_tsv() -> None:
    from pathlib import Path

    from ivr.prompts import read_texts

    tsv = Path(__file__).resolve().parents[3] / "config" / "ivr" / "prompts.tsv"
    made = {f"cti/{t.name}" for t in read_texts(tsv) if t.language == "zh"}
    used = {str(v) for pos in (1, 2, 30) for ewt, low, high in ((0, None, None), (30, None, None),
                                                                (150, None, None), (240, 120, 360), (9000, None, None))
            for _, v in announcement(pos, ewt, low, high, language="zh")}
    assert used <= made, used - made


def test_the_english_announcement_s_own_prompts_are_in_prompts_tsv() -> None:
    from pathlib import Path

    from ivr.prompts import read_texts

    tsv = Path(__file__).resolve().parents[3] / "config" / "ivr" / "prompts.tsv"
    made = {f"cti/{t.name}" for t in read_texts(tsv) if t.language == "en"}
    used = {str(v) for pos in (1, 2, 30) for ewt, low, high in ((30, None, None), (240, 120, 360))
            for kind, v in announcement(pos, ewt, low, high) if kind == "sound" and str(v).startswith("cti/")}
    assert used == {"cti/queue_between"} and used <= made, used - made
