"""Campaign rules without a database: settings, calling windows in the customer's zone, retries,
and contact rows whose errors name the row and the field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from crm_core.campaign_rules import (
    CampaignIn,
    Window,
    after_attempt,
    contact_zone,
    next_window_start,
    parse_csv,
    validate_contacts,
    within_window,
)

WEEKDAYS_9_TO_20 = (Window(),)
# Wednesday 2030-03-06 12:30 UTC: 20:30 in Shanghai (closed), 13:30 in Paris (open), 07:30 in New York.
NOON_UTC = datetime(2030, 3, 6, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize(("tz", "open_"), [("Asia/Shanghai", False), ("Europe/Paris", True),
                                           ("America/New_York", False)])
def test_windows_are_read_in_the_customers_own_zone(tz: str, open_: bool) -> None:
    assert within_window(WEEKDAYS_9_TO_20, tz, NOON_UTC) is open_


def test_next_window_start_is_the_next_local_opening() -> None:
    nxt = next_window_start(WEEKDAYS_9_TO_20, "Asia/Shanghai", NOON_UTC)
    assert nxt == datetime(2030, 3, 7, 1, 0, tzinfo=UTC)  # Thursday 09:00 in Shanghai
    saturday = datetime(2030, 3, 9, 12, 0, tzinfo=UTC)
    assert next_window_start(WEEKDAYS_9_TO_20, "Europe/Paris", saturday) == datetime(2030, 3, 11, 8, 0, tzinfo=UTC)


def test_a_window_ending_at_24_00_covers_the_days_last_minute() -> None:
    all_day = CampaignIn.model_validate({"name": "spring", "queue": "sales", "windows": [
        {"days": list(range(7)), "start": "00:00", "end": "24:00"}]}).windows
    # Thursday 2030-03-07 04:59:30 UTC is 23:59:30 on Wednesday in New York.
    assert within_window(all_day, "America/New_York", datetime(2030, 3, 7, 4, 59, 30, tzinfo=UTC))
    assert within_window(all_day, "America/New_York", datetime(2030, 3, 7, 5, 0, tzinfo=UTC))
    weekday_evenings = (Window(days=(2,), start="18:00", end="24:00"),)  # Wednesday only
    assert within_window(weekday_evenings, "UTC", datetime(2030, 3, 6, 23, 59, 59, tzinfo=UTC))
    assert not within_window(weekday_evenings, "UTC", datetime(2030, 3, 7, 0, 0, tzinfo=UTC))
    # It reads back as it was written, and a stored window validates again.
    dumped = all_day[0].model_dump(mode="json")
    assert dumped["end"] == "24:00:00"
    assert Window.model_validate(dumped) == all_day[0]
    with pytest.raises(ValidationError, match="end"):
        Window.model_validate({"start": "09:00", "end": "24:30"})


def test_a_contacts_zone_comes_from_its_number_when_the_upload_gives_none() -> None:
    assert contact_zone("+861058880000", None, "UTC") == "Asia/Shanghai"
    assert contact_zone("+33142685300", None, "UTC") == "Europe/Paris"
    assert contact_zone("+12125550100", None, "UTC") == "America/New_York"
    assert contact_zone("+12125550100", "Europe/Paris", "UTC") == "Europe/Paris"


@pytest.mark.parametrize(("outcome", "attempts", "machine_action", "expected"), [
    ("human", 1, "retry", ("done", 0.0)),
    ("busy", 1, "retry", ("retry", 600.0)),
    ("no_answer", 2, "retry", ("retry", 3600.0)),
    ("no_answer", 3, "retry", ("failed", 0.0)),  # max_attempts 3
    ("machine", 1, "message", ("done", 0.0)),  # the message was left
    ("machine", 1, "retry", ("retry", 7200.0)),
    ("failed", 1, "retry", ("failed", 0.0)),  # retry.failed set to null: never
])
def test_retry_rules_by_outcome(outcome: str, attempts: int, machine_action: str,
                                expected: tuple[str, float]) -> None:
    spec = CampaignIn(name="spring", queue="sales", retry={"failed": None})
    assert after_attempt(outcome, attempts=attempts, max_attempts=spec.max_attempts, retry=spec.retry,
                         machine_action=machine_action) == expected


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "Bad Name"}, "name"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"caller_id": "not-a-number"}, "caller_id"),
    ({"retry": {"rain": 10}}, "retry"),
    ({"machine_action": "message"}, "machine_message"),
    ({"windows": [{"days": [1], "start": "20:00", "end": "09:00"}]}, "end"),
    ({"windows": [{"start": "09:00", "end": "14:34:25-09:21"}]}, "offset"),  # was a TypeError (500)
    ({"drop_cap": 0.5}, "drop_cap"),
    ({"mode": "turbo"}, "mode"),
])
def test_bad_settings_are_refused_naming_the_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        CampaignIn.model_validate({"name": "spring", "queue": "sales", **body})
    assert field in str(err.value)


def test_contact_rows_are_normalised_and_each_error_names_row_and_field() -> None:
    text = ("number,name,timezone,plan\n"
            "139 1234 5678,Li Lei,,gold\n"
            "+33 1 42 68 53 00,Anne,Europe/Paris,\n"
            "\n"
            "hello,Bad,,\n"
            "13912345678,Twice,,\n"
            "13800138000,Zone,Mars/Base,\n")
    rows = parse_csv(text)
    assert [r for r, _ in rows] == [2, 3, 5, 6, 7]
    good, errors = validate_contacts(rows, region="CN")
    assert [(c.row, c.number, c.data) for c in good] == [(2, "+8613912345678", {"plan": "gold"}),
                                                         (3, "+33142685300", {})]
    assert [(e.row, e.field) for e in errors] == [(5, "number"), (6, "number"), (7, "timezone")]
    assert "already on row 2" in errors[1].message


def test_a_csv_without_a_number_column_is_refused() -> None:
    with pytest.raises(ValueError, match="number"):
        parse_csv("phone,name\n123,x\n")


@pytest.mark.parametrize("text", [
    "number,name\r13912345678,Li\r13800138000,Wang\r",  # a spreadsheet's "CSV (Macintosh)": lines end in CR
    "number,name\r\n13912345678,Li\r\n",
])
def test_a_csv_with_any_line_ending_is_read_line_by_line(text: str) -> None:
    assert [(r, f["number"]) for r, f in parse_csv(text)][:1] == [(2, "13912345678")]


def test_a_field_beyond_the_csv_readers_limit_is_a_value_error_naming_its_line() -> None:
    with pytest.raises(ValueError, match="line 3"):
        parse_csv("number,name\n13912345678,Li\n13800138000," + "x" * 200_000 + "\n")


@pytest.mark.parametrize("cid", ["²", "99999999999999999999999", "9" * 5000])  # were a 500 (int(), then the database)
def test_a_customer_id_that_is_no_database_id_is_an_error_of_its_row(cid: str) -> None:
    good, errors = validate_contacts([(2, {"number": "13912345678", "customer_id": cid})], region="CN")
    assert good == [] and [(e.row, e.field) for e in errors] == [(2, "customer_id")]


def test_a_column_named_twice_is_refused_not_read_as_the_last_one() -> None:
    """A spreadsheet with two "phone"/"number" columns: the first column's numbers were silently dropped."""
    with pytest.raises(ValueError, match=r"line 1: .*'number'"):
        parse_csv("number,name,number\n13912345678,Li,13800138000\n")


def test_a_campaigns_skill_levels_are_the_acds_scale() -> None:
    """A campaign asking for billing 9 was accepted and found no agent to dial for, ever."""
    from pydantic import ValidationError

    assert CampaignIn(name="ok", queue="sales", skills={"billing": 5}).skills == {"billing": 5}
    for level in (0, 6, 9):
        with pytest.raises(ValidationError, match=r"billing: proficiency is a whole number 1\.\.5"):
            CampaignIn(name="bad", queue="sales", skills={"billing": level})
