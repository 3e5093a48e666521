"""The benches' and tests' sipp phones register with the agents' generated passwords whatever
those look like: a real sipp answers a digest challenge from a small registrar here, which checks
the digest against the password. sipp reads an unquoted password starting with "0x" as hex, and
one generated password in 4,096 starts so (the benches' "agent registration failed" now and then)."""

from __future__ import annotations

import hashlib
import re
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from bench.e2e_sipp import SIPP_DIR, sipp_auth
from tests.servers import free_port

REALM, NONCE = "asterisk", "4f2a9c"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _registrar(sock: socket.socket, user: str, password: str, verdicts: list[bool]) -> None:
    """Challenge the first REGISTER, check the second's digest, answer 200 either way."""
    for _ in range(2):
        data, addr = sock.recvfrom(65535)
        msg = data.decode()
        echoed = "\r\n".join(line for line in msg.split("\r\n")[1:]
                             if re.match(r"(Via|From|To|Call-ID|CSeq):", line))
        auth = re.search(r"\r\nAuthorization: (.*)\r\n", msg)
        if auth is None:
            extra = f'WWW-Authenticate: Digest realm="{REALM}",nonce="{NONCE}",algorithm=MD5\r\n'
            status = "401 Unauthorized"
        else:
            fields = dict(re.findall(r'(\w+)="([^"]*)"', auth.group(1)))
            want = _md5(f"{_md5(f'{user}:{REALM}:{password}')}:{NONCE}:{_md5('REGISTER:' + fields['uri'])}")
            verdicts.append(fields.get("response") == want)
            extra, status = "", "200 OK"
        sock.sendto(f"SIP/2.0 {status}\r\n{echoed}\r\n{extra}Content-Length: 0\r\n\r\n".encode(), addr)


@pytest.mark.parametrize("password", ["0xF1nEmGC-Q2hjo_fzZfHjYO", "CF1nEmGC-Q2hjo_fzZfHjYOv", "-_0x9AbC"])
def test_sipp_answers_the_challenge_with_the_password_as_written(tmp_path: Path, password: str) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(15)
    verdicts: list[bool] = []
    registrar = threading.Thread(target=_registrar, args=(sock, "1001", password, verdicts), daemon=True)
    registrar.start()
    inf = tmp_path / "agent.csv"
    inf.write_text(f"SEQUENTIAL\n1001;{sipp_auth('1001', password)}\n")
    try:
        run = subprocess.run(["sipp", f"127.0.0.1:{sock.getsockname()[1]}", "-sf", str(SIPP_DIR / "register.xml"),
                              "-i", "127.0.0.1", "-p", str(free_port(socket.SOCK_DGRAM)), "-inf", str(inf),
                              "-m", "1", "-nostdin", "-timeout", "10s", "-timeout_error"],
                             capture_output=True, cwd=tmp_path, timeout=30, check=False)
        registrar.join(15)
    finally:
        sock.close()
    assert verdicts == [True], (verdicts, run.stderr.decode()[-400:])
    assert run.returncode == 0, run.stderr.decode()[-400:]
