"""What a managed Asterisk instance's configuration templates (``config/asterisk/*.conf``) are
filled with: AMI and FastAGI addresses, SIP transports and trunks, the agents' desk-phone and
browser endpoints, the app_queue fallback queues, and the certificates they need.
``cti.pbx.ManagedPbx.write_config`` renders the templates with ``template_values``."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from cti.endpoints import agent_extensions, webrtc_endpoint
from cti.errors import ConfigError, PbxError
from cti.settings import Settings, load_yaml
from cti.sip_credentials import passwords as agent_passwords
from cti.trunk_render import dialplan as trunk_dialplan
from cti.trunk_render import pjsip_sections
from cti.trunks import load_trunks

log = logging.getLogger(__name__)
# manager.conf's writetimeout of both AMI users: Asterisk drops a session that has not read what it
# was sent within this many ms (a user's setting, 100 by default); a busy machine stalls a reader longer.
AMI_WRITE_TIMEOUT_MS = 2000


def template_values(s: Settings, rootfs: Path, instance_dir: Path, instance_path: str) -> dict[str, str]:
    """Every ``@@placeholder@@`` of the templates, for one instance (``instance_path`` is its
    directory as seen inside the chroot)."""
    return {
        "inst": instance_path,
        "ami_host": s.ami.host,
        "ami_port": str(s.ami.port),
        "ami_user": s.ami.username,
        "ami_secret": s.ami.secret.get_secret_value(),
        "ami_observer": ami_observer(s),
        "ami_writetimeout": str(AMI_WRITE_TIMEOUT_MS),
        "agi_host": s.agi.host,
        "agi_port": str(s.agi.port),
        "sip_port": str(s.pbx.sip_port),
        "rtp_start": str(s.pbx.rtp_start),
        "rtp_end": str(s.pbx.rtp_end),
        "agent_endpoints": agent_endpoints(s.pbx.agent_endpoints, s.state_dir, srtp=s.sip.srtp),
        **_sip_values(s, instance_dir, instance_path),
        "fallback_queues": fallback_queues(s.config_dir),
        # logger.conf's messages file: Asterisk's verbose lines only when a developer asks for them.
        "messages_verbose": f",verbose({s.pbx.log_verbose})" if s.pbx.log_verbose else "",
        **_webrtc_values(s, rootfs, instance_dir, instance_path),
    }


def ami_observer(s: Settings) -> str:
    """manager.conf's read-only observer user (``ami.observer_username``), or nothing when
    ``ami.observer_secret`` is empty. It reads what raw observers wait on (DTMFEnd, MusicOnHold*,
    DialBegin, BridgeCreate, app_queue's events...), unfiltered, and may run no action at all."""
    secret = s.ami.observer_secret.get_secret_value()
    if not secret:
        return ""
    return (f"[{s.ami.observer_username}]\nsecret = {secret}\ndeny = 0.0.0.0/0.0.0.0\npermit = 127.0.0.0/255.0.0.0\n"
            f"writetimeout = {AMI_WRITE_TIMEOUT_MS}\nread = system,call,dtmf,agent,user\nwrite =\n")


def _sip_values(s: Settings, instance_dir: Path, instance_path: str) -> dict[str, str]:
    """Transports, trunks and the benchmark's loopback endpoint (docs/trunks.md)."""
    transports = ""
    if s.sip.tls:
        cert, key = _tls_files(s, instance_dir, instance_path)
        transports = (f"[transport-tls]\ntype = transport\nprotocol = tls\nbind = {s.sip.bind}:{s.sip.tls_port}\n"
                      f"cert_file = {cert}\npriv_key_file = {key}\nmethod = tlsv1_2\n")
    try:
        trunks = load_trunks(s)
        endpoints = pjsip_sections(trunks, os.environ, tls_available=s.sip.tls)
    except (ConfigError, ValueError) as err:
        raise PbxError(f"trunks: {err}") from None
    test_trunk = ""
    if s.sip.loopback_test_trunk:
        log.warning("sip.loopback_test_trunk is on (tests and benchmarks only): any process on this host "
                    "may send calls into cti-inbound and bench-appqueue without a password")
        media = "disallow = all\nallow = ulaw,alaw\ndirect_media = no\ndtmf_mode = rfc4733\nrtp_symmetric = yes\n"
        test_trunk = (f"[sipp-trunk]\ntype = endpoint\ncontext = cti-inbound\n{media}\n"
                      "[sipp-trunk]\ntype = identify\nendpoint = sipp-trunk\nmatch = 127.0.0.1\n\n"
                      f"[bench-appqueue]\ntype = endpoint\ncontext = bench-appqueue\n{media}")
    return {"sip_bind": s.sip.bind, "sip_transports": transports, "trunk_endpoints": endpoints,
            "trunk_dialplan": trunk_dialplan(trunks), "loopback_test_trunk": test_trunk}


def _tls_files(s: Settings, instance_dir: Path, instance_path: str) -> tuple[str, str]:
    """The TLS certificate and key as seen inside the chroot: the configured ones, or a
    self-signed pair generated once into <state_dir>/sip-tls/; copied into the instance."""
    cert, key = s.sip.tls_cert, s.sip.tls_key
    if cert is None or key is None:
        tls_dir = s.state_dir / "sip-tls"
        cert, key = tls_dir / "cert.pem", tls_dir / "key.pem"
        if not cert.exists() or not key.exists():
            tls_dir.mkdir(parents=True, exist_ok=True)
            proc = subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "825",
                 "-subj", "/CN=cti-engine-pbx", "-keyout", str(key), "-out", str(cert)],
                capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise PbxError(f"sip.tls: generating a self-signed certificate failed: {proc.stderr.strip()}")
            key.chmod(0o600)
    inside = instance_dir / "etc" / "tls"
    inside.mkdir(parents=True, exist_ok=True)
    for src, name in ((cert, "cert.pem"), (key, "key.pem")):
        try:
            shutil.copyfile(src, inside / name)
        except OSError as err:
            raise PbxError(f"sip.tls_cert/tls_key: cannot read {src}: {err.strerror}") from None
        (inside / name).chmod(0o600)
    return f"{instance_path}/etc/tls/cert.pem", f"{instance_path}/etc/tls/key.pem"


_CONTEXT = re.compile(r"^\[([A-Za-z0-9_-]+)\]", re.MULTILINE)


def dialplan_contexts(s: Settings) -> list[str]:
    """The dialplan contexts of the settings' ``asterisk/extensions.conf`` with its trunks'
    contexts rendered in (config/trunks.yaml; not its ``general`` and ``globals`` sections): what
    the engine expects the Asterisk it drives to have loaded. Raises OSError without the file and
    ConfigError for a trunks.yaml that does not validate."""
    text = (s.config_dir / "asterisk" / "extensions.conf").read_text(encoding="utf-8")
    text = text.replace("@@trunk_dialplan@@", trunk_dialplan(load_trunks(s)))
    return [c for c in _CONTEXT.findall(text) if c not in ("general", "globals")]


def render_templates(s: Settings, rootfs: Path, instance_dir: Path, instance_path: str) -> dict[str, str]:
    """Every template of the settings' ``asterisk/`` directory rendered for one instance: file
    name -> text. What ``cti pbx up`` writes, and ``cti pbx render`` for an Asterisk of one's own."""
    values = template_values(s, rootfs, instance_dir, instance_path)
    rendered = {}
    for template in sorted((s.config_dir / "asterisk").glob("*.conf")):
        text = template.read_text(encoding="utf-8")
        for key, value in values.items():
            text = text.replace(f"@@{key}@@", value)
        if "@@" in text:
            raise PbxError(f"{template}: unknown placeholder left after rendering")
        rendered[template.name] = text
    return rendered


FALLBACK_PREFIX = "cti-fallback-"  # app_queue queue of each engine queue (docs/resilience.md)


def fallback_queues(config_dir: Path) -> str:
    """queues.conf sections ``[cti-fallback-<queue>](cti-fallback)``, one per queue of
    ``config/queues.yaml`` whose ``fallback`` is ``app_queue`` (the default). Only names and that
    one key are read here (the ACD validates the file); members come from the engine at run time."""
    path = config_dir / "queues.yaml"
    if not path.exists():
        return ""
    try:
        data = load_yaml(path)
    except yaml.YAMLError as err:
        raise PbxError(f"{path}: {err}") from None
    queues = data.get("queues") if isinstance(data, dict) else None
    sections = []
    for name, spec in (queues if isinstance(queues, dict) else {}).items():  # other shapes: the ACD's check says
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", str(name)):
            raise PbxError(f"{path}: queue name {name!r} cannot name an Asterisk queue ([A-Za-z0-9_-])")
        if not isinstance(spec, dict) or spec.get("fallback", "app_queue") == "app_queue":
            sections.append(f"[{FALLBACK_PREFIX}{name}](cti-fallback)\n")
    return "\n".join(sections)


def agent_endpoints(count: int, state_dir: Path, *, srtp: bool = False) -> str:
    """Agent endpoints 1001...; each password is random per installation (cti.sip_credentials)."""
    extensions = agent_extensions(count)
    secret = agent_passwords(state_dir, extensions)
    media = "media_encryption = sdes\n" if srtp else ""
    blocks = []
    for n in extensions:
        blocks.append(
            f"[{n}](agent-template)\nauth = {n}-auth\naors = {n}\ncallerid = Agent {n} <{n}>\n{media}\n"
            f"[{n}-auth]\ntype = auth\nauth_type = userpass\nusername = {n}\npassword = {secret[str(n)]}\n\n"
            f"[{n}]\ntype = aor\nmax_contacts = 1\nremove_existing = yes\n"
        )
    return "\n".join(blocks)


def _webrtc_values(s: Settings, rootfs: Path, instance_dir: Path, instance_path: str) -> dict[str, str]:
    """Placeholders of the browser softphone: HTTP/WebSocket server, TLS, DTLS certificate, ICE
    candidates, codecs and one WebRTC endpoint per agent."""
    cert, key = ensure_certificate(instance_dir / "keys", s.pbx.http_host)
    inside = f"{instance_path}/keys"
    tls = ""
    if s.pbx.tls:
        tls = (f"tlsenable = yes\ntlsbindaddr = {s.pbx.http_host}:{s.pbx.https_port}\n"
               f"tlscertfile = {inside}/{cert.name}\ntlsprivatekey = {inside}/{key.name}")
    acl = ""
    if s.pbx.ice_permit:
        acl = "ice_deny = 0.0.0.0/0\n" + "\n".join(f"ice_permit = {n}" for n in s.pbx.ice_permit)
    media = s.pbx.webrtc_media_address
    if media.startswith("127."):
        # Asterisk gathers ICE host candidates from the interfaces pjlib lists, which never include
        # loopback (checked on 22.10: an ice_permit of 127.0.0.1/32 leaves no candidate at all).
        # To keep media on loopback, each interface address is advertised as the loopback one;
        # RTP is bound to it (bind_rtp_to_media_address), so only loopback pairs can connect.
        acl += "\n\n[ice_host_candidates]\n"
        acl += "\n".join(f"{addr} => {media}" for addr in _interface_addresses())
    modules = rootfs / "usr" / "lib" / "x86_64-linux-gnu" / "asterisk" / "modules"
    has_opus = any((modules / m).exists() for m in ("codec_opus.so", "codec_opus_open_source.so"))
    return {
        "http_host": s.pbx.http_host,
        "http_port": str(s.pbx.http_port),
        "http_tls": tls,
        "ice_acl": acl,
        "dtls_cert": f"{inside}/{cert.name}",
        "dtls_key": f"{inside}/{key.name}",
        # G.711 first: callers come from the PSTN in G.711 (no transcoding), and Asterisk 22.10 got
        # RFC 4733 durations wrong with telephone-event/48000 (opus) in our tests.
        "webrtc_codecs": "ulaw,alaw,opus" if has_opus else "ulaw,alaw",
        "webrtc_media": (f"media_address = {s.pbx.webrtc_media_address}\nbind_rtp_to_media_address = yes"
                         if s.pbx.webrtc_media_address else ""),
        "webrtc_rtp_timeout": str(s.pbx.softphone_media_timeout_s),
        "webrtc_endpoints": _webrtc_endpoints(s.pbx.agent_endpoints),
    }


def _webrtc_endpoints(count: int) -> str:
    """No auth object here: the engine writes it to AstDB while the agent is logged in."""
    blocks = []
    for n in agent_extensions(count):
        name = webrtc_endpoint(n)
        blocks.append(
            f"[{name}](webrtc-template)\nauth = {name}\naors = {name}\ncallerid = Agent {n} <{n}>\n\n"
            f"[{name}]\ntype = aor\nmax_contacts = 1\nremove_existing = yes\n"
            # OPTIONS every 5 s (SIP.js answers them): a browser whose network went quiet without its
            # WebSocket breaking shows as unreachable (device state UNAVAILABLE) within ~8 s, so the
            # ACD stops offering it calls; it was still "registered" until the registration expired.
            f"qualify_frequency = 5\nqualify_timeout = 3.0\n"
        )
    return "\n".join(blocks)


def _interface_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses (``ip -o -4 addr``)."""
    proc = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=False)
    found = []
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2] == "inet" and not parts[3].startswith("127."):
            found.append(parts[3].split("/")[0])
    return found


def ensure_certificate(directory: Path, host: str) -> tuple[Path, Path]:
    """A self-signed certificate for WSS and DTLS-SRTP, made once per instance with openssl.
    DTLS only needs some certificate (browsers check its fingerprint from the SDP, not a CA);
    for WSS a browser must trust it, or use a real one placed here (docs/softphone.md)."""
    cert, key = directory / "asterisk.crt", directory / "asterisk.key"
    if cert.exists() and key.exists():
        return cert, key
    directory.mkdir(parents=True, exist_ok=True)
    san = f"IP:{host}" if host.replace(".", "").isdigit() or ":" in host else f"DNS:{host}"
    proc = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "3650", "-subj", "/CN=cti-engine-pbx", "-addext", f"subjectAltName={san},DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise PbxError(f"generating the WebRTC certificate with openssl failed: {proc.stderr.strip()}")
    key.chmod(0o600)
    return cert, key
