"""The call log's update of a call: the columns that changed since its last write, within a
bounded number of statements."""

from __future__ import annotations

from typing import Any

import pytest

import crm_core.calllog_rows as calllog_rows
from crm_core.calllog_rows import changed_row


def _row(**changes: Any) -> dict[str, Any]:
    row = {"direction": "inbound", "status": "open", "caller_number": "+33123", "customer_id": None,
           "ended_at": None, "talk_s": 0.0, "linkedid": "L-1", "events": "[a]", "updated_at": 1, "b_id": 7}
    row.update(changes)
    return row


def test_an_update_carries_what_changed_and_what_is_always_sent() -> None:
    stored = _row()
    update = changed_row(stored, _row(status="ended", ended_at=5, events="[a,b]", updated_at=2))
    assert update == {"status": "ended", "customer_id": None, "ended_at": 5, "linkedid": "L-1", "events": "[a,b]",
                      "updated_at": 2, "b_id": 7}


def test_an_unknown_stored_row_sends_the_whole_row_as_a_copy() -> None:
    row = _row(status="ended")
    update = changed_row(None, row)
    assert update == row and update is not row  # Work.write drops keys from the rows it sends


def test_a_column_the_stored_row_lacks_is_sent() -> None:
    stored = _row()
    del stored["talk_s"]
    assert "talk_s" in changed_row(stored, _row())


def test_past_the_bound_a_new_set_of_columns_sends_the_whole_row(monkeypatch: pytest.MonkeyPatch) -> None:
    forms = {("x", str(i)): object() for i in range(calllog_rows._UPDATE_FORMS - 1)}
    monkeypatch.setattr(calllog_rows, "_UPDATES", forms)
    first = changed_row(_row(), _row(status="ended", events="[a,b]"))
    calllog_rows._update(first)  # the last set of columns with a statement of its own
    assert set(first) == {"status", "customer_id", "linkedid", "events", "updated_at", "b_id"}
    # The same set again still has its statement; another one now gets the whole row.
    assert changed_row(_row(), _row(status="ended", events="[a,c]")).keys() == first.keys()
    assert changed_row(_row(), _row(talk_s=3.0, events="[a,b]")) == _row(talk_s=3.0, events="[a,b]")
    assert len(calllog_rows._UPDATES) == calllog_rows._UPDATE_FORMS
