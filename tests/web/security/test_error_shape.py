"""Every 4xx has the one error shape, {"detail": {"code", "message"[, "field"]}}, the console's and
the integrators' clients read: also the framework's own refusals (no such path or method, a body
that does not parse), which answered {"detail": "Not Found"} or a bare "There was an error parsing
the body" for a JSON body nested past the parser's limit."""

from __future__ import annotations

from tests.web.security.conftest import Site


async def test_the_frameworks_refusals_have_the_error_shape(site: Site) -> None:
    async with site.client() as c:
        missing = await c.get("/api/no-such-thing")
        assert missing.status_code == 404
        assert missing.json()["detail"] == {"code": "not_found", "message": "Not Found"}
        wrong = await c.delete("/api/auth/login")
        assert wrong.status_code == 405 and wrong.json()["detail"]["code"] == "method_not_allowed"
        deep = "[" * 1_900 + "]" * 1_900  # past the parser's depth, within the login's 4 KB
        r = await c.post("/api/auth/login", content=deep, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, r.text
        assert r.json()["detail"]["code"] == "invalid_input" and r.json()["detail"]["field"] == "body"
        refused = await c.get("/api/me")  # the policy's own answer keeps its shape and header
        assert refused.status_code == 401 and refused.json()["detail"]["code"] == "not_authenticated"
        assert refused.headers.get("www-authenticate") == "Bearer"


async def test_a_body_that_is_not_json_is_a_400_naming_the_body(site: Site) -> None:
    # docs/api.md: malformed JSON is 400 invalid_input with field "body". FastAPI reports it as a
    # validation error located at the character offset ("1: JSON decode error", field "1", 422),
    # which names no field of the request.
    async with site.client() as c:
        for raw in (b"{", b'{"username": "agent7", "password": "x"', b"x", b"\xff\xfe"):
            r = await c.post("/api/auth/login", content=raw, headers={"Content-Type": "application/json"})
            assert r.status_code == 400, (raw, r.text)
            detail = r.json()["detail"]
            assert detail["code"] == "invalid_input" and detail["field"] == "body", (raw, detail)
            assert detail["message"].startswith("body: "), detail
        # No body at all where one is required: a 422 naming the body, not "request" with no field.
        empty = await c.post("/api/auth/login", content=b"", headers={"Content-Type": "application/json"})
        assert empty.status_code == 422, empty.text
        assert empty.json()["detail"]["field"] == "body", empty.text


async def test_a_validators_message_reaches_the_user_without_pydantics_prefix(site: Site) -> None:
    """A model validator's own sentence is the message (the console shows it under the field), not
    pydantic's "Value error, ..." wrapping of it."""
    agent = await site.login("agent1")
    r = await agent.patch("/api/crm/customers/1", json={"emails": ["not-an-address"]})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail["field"] == "emails", detail
    assert detail["message"] == "emails: emails[0] 'not-an-address' is not an e-mail address", detail
