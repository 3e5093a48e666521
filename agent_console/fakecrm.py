"""The CRM side in memory: a seeded customer book with history, cases, scripts and articles.
``FakeCrm`` is both the console's ``PopSource`` and its ``CustomerSearch``, and records wrap-ups
(interaction, case, callback) the way the real CRM adapter will.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from agent_console.errors import InvalidInput, TargetNotFound
from agent_console.ports import WrapUpInput

# -- CRM -----------------------------------------------------------------------------------------

_DAY = 86400.0


def _seed(now: float) -> dict[int, dict[str, Any]]:
    def hist(*rows: tuple[float, str, str, str, str]) -> list[dict[str, Any]]:
        return [{"id": 1000 + i, "at": now - days * _DAY, "channel": ch, "direction": "inbound", "agent": agent,
                 "disposition": disp, "outcome": "answered", "notes": notes, "resolved": disp == "resolved"}
                for i, (days, ch, agent, disp, notes) in enumerate(rows)]

    return {
        1: {"customer": {"id": 1, "name": "李伟 Li Wei", "company": "Hangzhou Tea Co.", "tier": "gold",
                         "lifecycle": "loyal", "phone": "+8613800138000", "email": "li.wei@example.cn",
                         "language": "zh", "tags": ["key account"]},
            "interactions": hist(
                (2, "phone", "Ann", "info_given", "Asked about the invoice for October; sent a copy."),
                (9, "phone", "Bo", "resolved", "Router replaced, service restored."),
                (15, "email", "Ann", "escalated", "Outage in the Xihu office, escalated to field team."),
                (40, "phone", "Chen", "sale", "Upgraded to the 500 Mbit plan."),
                (75, "phone", "Bo", "resolved", "Password reset."),
                (120, "phone", "Ann", "info_given", "Opening hours of the service centre.")),
            "open_cases": [{"id": 501, "subject": "Intermittent drops at Xihu office", "status": "open",
                            "priority": "high", "opened_at": now - 15 * _DAY}]},
        2: {"customer": {"id": 2, "name": "Emma Clarke", "company": "Clarke & Sons", "tier": "platinum",
                         "lifecycle": "mature", "phone": "+441632960123", "email": "emma@clarke.example",
                         "language": "en", "tags": ["vip"]},
            "interactions": hist((1, "phone", "Ann", "complaint", "Double charge on the last bill."),
                                 (30, "web", "Dan", "resolved", "Changed billing address.")),
            "open_cases": [{"id": 502, "subject": "Refund double charge", "status": "pending", "priority": "normal",
                            "opened_at": now - 1 * _DAY}]},
        3: {"customer": {"id": 3, "name": "张敏 Zhang Min", "company": None, "tier": "standard", "lifecycle": "new",
                         "phone": "+8613900001111", "email": None, "language": "zh", "tags": []},
            "interactions": [], "open_cases": []},
    }


_SCRIPTS = {
    "support": {"title": "Technical support greeting",
                "body": "Greet the caller by name. Confirm the open case before asking new questions. "
                        "Offer a callback if the fix needs more than 10 minutes."},
    "billing": {"title": "Billing", "body": "Verify the last 4 digits of the account. Never read out card numbers."},
    "sales": {"title": "Sales", "body": "Ask what the customer uses today; suggest the plan that fits."},
}
_ARTICLES = {
    "support": [{"id": "KB-12", "title": "Restart the router remotely", "summary": "Steps 1-4, takes 3 minutes."},
                {"id": "KB-31", "title": "Known outages this week", "summary": "Xihu district, fibre works."}],
    "billing": [{"id": "KB-7", "title": "Refund a double charge", "summary": "Refund within 5 working days."}],
    "sales": [{"id": "KB-3", "title": "Plans and prices 2026", "summary": "100/500/1000 Mbit."}],
}


@dataclass
class FakeCrm:
    """Customers, history, cases, scripts and articles in memory; PopSource and CustomerSearch."""

    clock: Any = time.time
    book: dict[int, dict[str, Any]] = field(default_factory=dict)
    ivr: dict[str, dict[str, Any]] = field(default_factory=dict)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(2000))

    def __post_init__(self) -> None:
        if not self.book:
            self.book = _seed(self.clock())

    def _by_number(self, number: str) -> int | None:
        digits = number.lstrip("+")
        for cid, entry in self.book.items():
            phone = (entry["customer"].get("phone") or "").lstrip("+")
            if phone and (phone == digits or (phone.endswith(digits[-8:]) and len(digits) >= 8)):
                return cid
        return None

    async def build_pop(self, linkedid: str, agent_id: str, offer_info: dict[str, Any]) -> dict[str, Any]:
        number = str(offer_info.get("caller_number") or "")
        cid = offer_info.get("customer_id") or self._by_number(number)
        entry = self.book.get(cid) if cid else None
        queue = offer_info.get("queue")
        ivr = self.ivr.get(linkedid, {})
        intent = ivr.get("intent") or queue
        return {
            "call_id": linkedid, "caller_number": number,
            "customer": entry["customer"] if entry else None,
            "interactions": sorted(entry["interactions"], key=lambda r: -r["at"])[:5] if entry else [],
            "open_cases": [c for c in entry["open_cases"] if c["status"] in ("open", "pending")] if entry else [],
            "ivr_flow": ivr.get("flow"), "ivr_path": ivr.get("path", []), "intent": intent,
            "waited_s": float(offer_info.get("waited_s") or 0.0), "queue": queue,
            "skills": offer_info.get("skills") or {},
            "script": _SCRIPTS.get(intent or "", _SCRIPTS.get(queue or "")),
            "articles": _ARTICLES.get(intent or "", _ARTICLES.get(queue or "", [])),
        }

    async def search(self, query: str, limit: int = 20) -> list[dict[str, Any]]:
        q = query.strip().casefold()
        if not q:
            return []
        out = []
        for entry in self.book.values():
            c = entry["customer"]
            hay = " ".join(str(c.get(k) or "") for k in ("name", "company", "phone", "email")).casefold()
            if q in hay or (q.lstrip("+").isdigit() and q.lstrip("+") in hay.replace("+", "")):
                out.append(c)
        return out[:limit]

    async def customer(self, customer_id: int) -> dict[str, Any] | None:
        entry = self.book.get(customer_id)
        if entry is None:
            return None
        return {"customer": entry["customer"], "interactions": await self.history(customer_id, 20),
                "open_cases": [c for c in entry["open_cases"] if c["status"] in ("open", "pending")]}

    def customer_record(self, customer_id: int) -> dict[str, Any]:
        """The customer as the CRM's REST API gives it (``crm_core.schemas.CustomerOut``), which the
        console's customer editing reads."""
        entry = self.book.get(customer_id)
        if entry is None:
            raise TargetNotFound(f"no customer {customer_id}")
        c = entry["customer"]
        return {"id": c["id"], "name": c["name"], "company": c.get("company"),
                "phones": [{"number": c["phone"], "label": "mobile"}] if c.get("phone") else [],
                "emails": list(entry.get("emails", [c["email"]] if c.get("email") else [])),
                "account_number": None, "tier": c.get("tier") or "standard", "lifecycle": c.get("lifecycle") or "new",
                "language": c.get("language") or "zh-CN", "tags": list(c.get("tags") or []), "custom_fields": {},
                "notes": entry.get("notes", "")}

    def update_customer(self, customer_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply a validated ``CustomerPatch``'s changes: the fields an agent edits in the console."""
        self.customer_record(customer_id)  # a 404 for a customer not in the book
        kept = ("name", "company", "emails", "tags", "notes", "lifecycle", "language")
        for name in changes:
            if name not in kept:
                raise InvalidInput(name, f"the demo's CRM keeps only {', '.join(kept)}")
        entry = self.book[customer_id]
        c = entry["customer"]
        for name in ("name", "company", "tags", "lifecycle", "language"):
            if name in changes:
                c[name] = changes[name]
        if "emails" in changes:
            entry["emails"] = list(changes["emails"])
            c["email"] = changes["emails"][0] if changes["emails"] else None
        if "notes" in changes:
            entry["notes"] = changes["notes"]
        return self.customer_record(customer_id)

    async def history(self, customer_id: int, limit: int = 20) -> list[dict[str, Any]]:
        entry = self.book.get(customer_id)
        return sorted(entry["interactions"], key=lambda r: -r["at"])[:limit] if entry else []

    def record_wrap_up(self, call: Any, agent_id: str, wrap: WrapUpInput, *, now: float) -> dict[str, Any]:
        cid = call.customer_id or self._by_number(call.peer_number)
        if wrap.case is not None:  # check the case first: nothing half-written on a bad case
            if cid is None or cid not in self.book:
                raise InvalidInput("case", "the caller is not a known customer; no case can be attached")
            if wrap.case.id is None and not wrap.case.subject:
                raise InvalidInput("case.subject", "a new case needs a subject")
            if wrap.case.id is not None and all(c["id"] != wrap.case.id for c in self.book[cid]["open_cases"]):
                raise TargetNotFound(f"no open case {wrap.case.id} for this customer")
        interaction_id = next(self._ids)
        case_id = None
        if cid is not None and cid in self.book:
            entry = self.book[cid]
            entry["interactions"].append({"id": interaction_id, "at": now, "channel": "phone",
                                          "direction": call.direction, "agent": agent_id,
                                          "disposition": wrap.disposition, "outcome": "answered",
                                          "notes": wrap.notes, "resolved": wrap.resolved, "call_id": call.call_id})
            if wrap.case is not None:
                case_id = self._apply_case(entry, wrap, now)
        if wrap.callback_at is not None:
            self.callbacks.append({"id": next(self._ids), "customer_id": cid, "due_at": wrap.callback_at,
                                   "number": wrap.callback_number or call.peer_number, "agent_id": agent_id})
        return {"interaction_id": interaction_id, "case_id": case_id,
                "callback_id": self.callbacks[-1]["id"] if wrap.callback_at is not None else None}

    def _apply_case(self, entry: dict[str, Any], wrap: WrapUpInput, now: float) -> int:
        case = wrap.case
        assert case is not None
        if case.id is not None:
            for c in entry["open_cases"]:
                if c["id"] == case.id:
                    c.update({k: v for k, v in (("subject", case.subject), ("status", case.status),
                                                ("priority", case.priority)) if v})
                    c.setdefault("notes", []).append(case.note)
                    return case.id
            raise TargetNotFound(f"no case {case.id} for this customer")
        if not case.subject:
            raise InvalidInput("case.subject", "a new case needs a subject")
        case_id = next(self._ids)
        new = {"id": case_id, "subject": case.subject, "status": case.status or "open",
               "priority": case.priority or "normal", "opened_at": now, "notes": [case.note]}
        entry["open_cases"].append(new)
        return case_id
