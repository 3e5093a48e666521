"""Errors of the CRM core, each with a stable code; the web layer maps them in one table.

    CtiError
    ├── ConfigError (cti.errors)
    │   └── LoginRefused       the database server refused database_url's login (user, password, name)
    └── CrmError
        ├── NotFound               no row with that id (names the noun and id)          (404)
        ├── InvalidField           a field is wrong (names the field)                   (422)
        ├── Conflict               unique value taken (account number, username, code)  (409)
        │   └── ContactTaken       a campaign contact changed first by another command  (409)
        ├── IllegalCaseStep        a case cannot go from its status to the one asked    (409)
        ├── IllegalCampaignStep    a campaign cannot start/pause/resume/stop from its state (409)
        ├── CallbackError
        │   ├── CallbackTaken      another agent claimed the callback first             (409)
        │   └── IllegalCallbackStep  not allowed in the callback's state, or not yours  (409)
        └── DatabaseUnavailable    the database cannot be reached right now (``why``)   (503)
"""

from __future__ import annotations

from cti.errors import ConfigError, CtiError


class CrmError(CtiError):
    code = "crm_error"
    http_status = 500


class NotFound(CrmError):
    code = "not_found"
    http_status = 404

    def __init__(self, noun: str, key: object) -> None:
        super().__init__(f"{noun} {key} does not exist")
        self.noun = noun
        self.key = key


class InvalidField(CrmError):
    code = "invalid_field"
    http_status = 422

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field


class Conflict(CrmError):
    code = "conflict"
    http_status = 409

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field


class ContactTaken(Conflict):
    """A Dial or Skip of a campaign contact that another command (a Skip, a Dial, the dialer, an
    attempt's end) changed first: it is no longer pending and due."""

    code = "contact_taken"

    def __init__(self, contact_id: int) -> None:
        super().__init__("contact_id", f"contact {contact_id} was changed first by another command "
                         "(dialled, skipped or finished): it is no longer waiting to be dialled")


class IllegalCaseStep(CrmError):
    code = "illegal_case_step"
    http_status = 409


class IllegalCampaignStep(CrmError):
    code = "illegal_campaign_step"
    http_status = 409


class CallbackError(CrmError):
    code = "callback_error"
    http_status = 409


class CallbackTaken(CallbackError):
    code = "callback_taken"


class IllegalCallbackStep(CallbackError):
    code = "illegal_callback_step"


class DatabaseUnavailable(CrmError):
    """The database did not take a connection or a statement. ``why``: the failure in a few words
    (connection refused, no answer within 3 s), when the adapter found it (``because``); what
    ``crm_core.db.connect_problem`` says after naming the database."""

    code = "database_unavailable"
    http_status = 503

    def __init__(self, message: str, *, why: str | None = None) -> None:
        super().__init__(message)
        self.why = why

    @classmethod
    def because(cls, why: str) -> DatabaseUnavailable:
        return cls(f"database unavailable: {why}", why=why)


class LoginRefused(ConfigError):
    """The database server answered and refused the login: a wrong user, password or database name
    in database_url (``crm_core.db.connect_problem`` says which server, database and user)."""
