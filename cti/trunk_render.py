"""The trunks of ``config/trunks.yaml`` as Asterisk configuration: PJSIP sections and dialplan.

``cti.pbx`` puts these texts into the templates' ``@@trunk_endpoints@@`` (pjsip.conf) and
``@@trunk_dialplan@@`` (extensions.conf) placeholders. Registration secrets come from the
environment at render time and only ever reach the instance's pjsip.conf (mode 0600).
"""

from __future__ import annotations

from collections.abc import Mapping

from cti.trunks import EXTERNAL_CONTEXT, TrunksConfig, account

# The group every outbound call of a trunk joins; GROUP_COUNT(<trunk>@cti-trunks) is its load.
GROUP_CATEGORY = "cti-trunks"


def config_value(value: str) -> str:
    """``value`` as written after ``name = `` in an Asterisk .conf file: main/config.c reads an
    unescaped ``;`` as the start of a comment (``password = ab;cd`` is ``ab``) and turns ``\\;`` back
    into ``;``, dropping only the one backslash before a ``;``: every other backslash is read as it
    stands, so a backslash needs no escape of its own (``a\\;`` is written ``a\\\\;``, read ``a\\;``)."""
    return value.replace(";", "\\;")


def pjsip_sections(cfg: TrunksConfig, env: Mapping[str, str], *, tls_available: bool) -> str:
    """Endpoint, aor, auth, registration and identify sections of the carrier trunks."""
    blocks: list[str] = []
    for trunk in cfg.trunks:
        if trunk.kind == "simulator":
            continue
        if trunk.transport == "tls" and not tls_available:
            raise ValueError(f"trunk {trunk.name!r}: transport tls needs sip.tls: true in the settings")
        transport = f"transport-{trunk.transport}"
        uri = f"sip:{trunk.host}:{trunk.port}" + (";transport=tls" if trunk.transport == "tls" else "")
        endpoint = [f"[{trunk.name}]", "type = endpoint", f"context = cti-from-{trunk.name}",
                    f"transport = {transport}", "disallow = all", f"allow = {','.join(trunk.codecs)}",
                    f"aors = {trunk.name}", "direct_media = no", "dtmf_mode = rfc4733", "rtp_symmetric = yes",
                    "send_pai = yes", "trust_id_inbound = yes"]
        if trunk.srtp:
            endpoint.append("media_encryption = sdes")
        sections = ["\n".join(endpoint),
                    f"[{trunk.name}]\ntype = aor\ncontact = {uri}\nqualify_frequency = 0"]
        if trunk.kind == "registration":
            user, secret = (config_value(v) for v in account(trunk, env))
            sections[0] += f"\noutbound_auth = {trunk.name}-auth\nfrom_user = {user}"
            sections.append(f"[{trunk.name}-auth]\ntype = auth\nauth_type = userpass\nusername = {user}\n"
                            f"password = {secret}")
            # line/endpoint: a call the carrier sends to the registered contact is this trunk's.
            sections.append(f"[{trunk.name}]\ntype = registration\ntransport = {transport}\n"
                            f"outbound_auth = {trunk.name}-auth\nserver_uri = {uri}\n"
                            f"client_uri = sip:{user}@{trunk.host}:{trunk.port}\ncontact_user = {user}\n"
                            f"retry_interval = 20\nforbidden_retry_interval = 300\nexpiration = 300\n"
                            f"line = yes\nendpoint = {trunk.name}")
        sections.append(f"[{trunk.name}]\ntype = identify\nendpoint = {trunk.name}\n"
                        f"match = {','.join(trunk.matches)}")
        blocks.append(f"; trunk {trunk.name} ({trunk.kind})\n" + "\n\n".join(sections))
    return "\n\n".join(blocks)


def dialplan(cfg: TrunksConfig, *, sim_context: str = "cti-sim-customer") -> str:
    """cti-external (the entry), cti-routes (prefix -> trunk), one cti-trunk-<name> context per
    trunk (concurrency limit, caller ID, Dial) and one cti-from-<name> per carrier (DID -> IVR)."""
    timeout = cfg.outbound.dial_timeout_s
    out = [
        "; Numbers outside the call centre (rendered from config/trunks.yaml by cti.pbx). The engine",
        "; routes in Python and names the trunk in CTI_TRUNK (and the presented number in",
        "; CTI_CALLER_ID); calls that start in the dialplan (desk phones, IVR transfers) are routed",
        "; here by the longest E.164 prefix, the same rule. A leading + is dropped first.",
        f"[{EXTERNAL_CONTEXT}]",
        'exten => _X.,1,Goto(${IF($["${CTI_TRUNK}" != ""]?cti-trunk-${CTI_TRUNK}:cti-routes)},${EXTEN},1)',
        f"exten => _+X.,1,Goto({EXTERNAL_CONTEXT},${{EXTEN:1}},1)",
        "",
        "[cti-routes]",
    ]
    catch_all = False
    for route in sorted(cfg.outbound.routes, key=lambda r: r.prefix):
        catch_all = catch_all or route.prefix == ""
        out.append(f"exten => _{route.prefix}X.,1,Goto(cti-trunk-{route.trunk},${{EXTEN}},1)")
    if not catch_all:
        out += ["exten => _X.,1,NoOp(CTI: no outbound route for ${EXTEN})", " same => n,Congestion(5)"]
    default_cid = cfg.caller_id() or ""
    for trunk in cfg.trunks:
        if trunk.kind == "simulator":
            dial = f"Local/${{EXTEN}}@{sim_context}"
        else:
            number = "+${EXTEN}" if trunk.dial_format == "e164" else "${EXTEN}"
            dial = f"PJSIP/{number}@{trunk.name}"
        out += [
            "",
            f"[cti-trunk-{trunk.name}]",
            f"exten => _X.,1,Set(GROUP({GROUP_CATEGORY})={trunk.name})",
            # GROUP_COUNT counts this channel too: the limit is exceeded when it is above max_calls.
            f" same => n,GotoIf($[${{GROUP_COUNT({trunk.name}@{GROUP_CATEGORY})}} > {trunk.max_calls}]?full)",
        ]
        if default_cid:
            out.append(f' same => n,Set(CTI_CALLER_ID=${{IF($["${{CTI_CALLER_ID}}" != ""]?${{CTI_CALLER_ID}}:'
                       f"{default_cid})}})")
        out += [
            ' same => n,ExecIf($["${CTI_CALLER_ID}" != ""]?Set(CALLERID(num)=${CTI_CALLER_ID}))',
            f" same => n,Dial({dial},{timeout})",
            " same => n,Hangup()",
            f" same => n(full),NoOp(CTI: trunk {trunk.name} is at its limit of {trunk.max_calls} calls)",
            " same => n,Congestion(5)",
        ]
    for trunk in cfg.trunks:
        if trunk.kind == "simulator":
            continue
        out += ["", f"; Calls from {trunk.name}: each DID opens the IVR entry (DNIS) that picks its flow.",
                f"[cti-from-{trunk.name}]"]
        for did in trunk.dids:
            digits = did.number.lstrip("+")
            for form in (digits, "+" + digits):
                out.append(f"exten => {form},1,Goto(cti-inbound,{did.dnis},1)")
        out += [f"exten => _[+0-9].,1,NoOp(CTI: {trunk.name} delivered ${{EXTEN}}, not one of our DIDs)",
                " same => n,Hangup(1)"]
    return "\n".join(out) + "\n"
