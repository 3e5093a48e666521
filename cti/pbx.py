"""Provision and run a real Asterisk 22 for development, tests and the demo.

``managed`` mode keeps a Debian sid root file system with Asterisk (built once by
``scripts/build-asterisk-rootfs.sh`` and cached), writes one instance's configuration from the
templates in ``config/asterisk/`` into ``<rootfs>/srv/cti/<instance>/etc``, and runs
``chroot <rootfs> asterisk -C ... -f`` in its own session, stopped by pid. The chroot shares the
host's network namespace, so AMI, FastAGI and SIP on 127.0.0.1 reach the engine directly.
Several instances (a developer's and each test run's) can run side by side on their own ports.

``system`` mode drives an Asterisk that is already installed and configured: nothing is written
or started, ``status`` and ``cli`` talk to it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from cti.credentials import with_installation_secrets
from cti.errors import PbxError
from cti.pbx_config import render_templates
from cti.pbx_ids import RUN_USER, held, own_ids
from cti.settings import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)
# What Asterisk reads only when it starts: ``core reload`` leaves the running one on the old text.
RESTART_ONLY = ("asterisk.conf", "modules.conf", "sorcery.conf")
ASTERISK_UMASK = 0o027  # the managed Asterisk's files: no access for others

BUILD_SCRIPT = PROJECT_ROOT / "scripts" / "build-asterisk-rootfs.sh"


@dataclass(frozen=True)
class PbxStatus:
    running: bool
    pid: int | None
    ami_ready: bool
    detail: str


class ManagedPbx:
    """One Asterisk instance inside the cached chroot."""

    def __init__(self, settings: Settings) -> None:
        # An AMI secret left unset is generated per installation; the engine reads the same file.
        self.settings = settings = with_installation_secrets(settings, session=False)
        self.rootfs = settings.pbx.rootfs
        self.instance_path = f"/srv/cti/{settings.pbx.instance}"  # as seen inside the chroot
        self.instance_dir = self.rootfs / self.instance_path.lstrip("/")
        self.pid_file = self.instance_dir / "cti.pid"
        self.log_file = self.instance_dir / "log" / "messages"
        self.console_log = self.instance_dir / "console.log"
        self._proc: subprocess.Popen[bytes] | None = None  # kept so it is reaped, not leaked

    # -- provisioning -------------------------------------------------------------------------
    def ensure_rootfs(self) -> None:
        if (self.rootfs / ".cti-rootfs-ok").exists():
            return
        if os.geteuid() != 0:
            raise PbxError("building the Asterisk root file system needs root (debootstrap, chroot)")
        proc = subprocess.run(["bash", str(BUILD_SCRIPT), str(self.rootfs)], check=False)
        if proc.returncode != 0:
            raise PbxError(f"building the Asterisk root file system failed (see {self.rootfs}.partial.log)")

    def write_hosts(self) -> None:
        """Name this machine in the chroot's /etc/hosts. Asterisk looks its own host name up for
        every new RTP session (and then A.ROOT-SERVERS.NET when that fails); without a hosts file
        each lookup goes to DNS from PJSIP's one SIP-receiving thread, and a slow resolver stalls
        all SIP traffic for seconds (seen as INVITE retransmits and failed calls under load)."""
        name = socket.gethostname()
        hosts = self.rootfs / "etc" / "hosts"
        text = f"127.0.0.1\tlocalhost {name}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        if not hosts.exists() or hosts.read_text(encoding="utf-8") != text:
            hosts.write_text(text, encoding="utf-8")

    def write_config(self) -> None:
        s = self.settings
        rendered = render_templates(s, self.rootfs, self.instance_dir, self.instance_path)
        etc = self.instance_dir / "etc"
        for sub in ("etc", "run", "log", "spool", "lib", "spool/voicemail", "spool/monitor"):
            (self.instance_dir / sub).mkdir(parents=True, exist_ok=True)
        for name, text in rendered.items():
            _write_private(etc / name, text)  # secrets (AMI, SIP passwords): Asterisk's user only
        with held(self.rootfs) as owner:  # Asterisk starts with -U asterisk: whatever ids the chroot has then
            if owner is None:
                raise self._no_user()
            # keys: the WebRTC certificate's private key (0600) must be readable by Asterisk's user.
            for sub in ("etc", "run", "log", "spool", "lib", "keys"):
                if (self.instance_dir / sub).exists():
                    _chown_tree(self.instance_dir / sub, *owner)
        _private_logs(self.instance_dir / "log")

    def asterisk_ids(self) -> tuple[int, int]:
        """The uid and gid of ``RUN_USER`` in the root file system (not the host's passwd file),
        renumbered first when another account of the host has either (``cti.pbx_ids``)."""
        ids = own_ids(self.rootfs)
        if ids is None:
            raise self._no_user()
        return ids

    def _no_user(self) -> PbxError:
        return PbxError(f"{self.rootfs}: no '{RUN_USER}' user or group (the Debian asterisk package creates "
                        f"them); rebuild the root file system: rm -rf {self.rootfs} && make pbx")

    # -- life cycle ---------------------------------------------------------------------------
    def pid(self) -> int | None:
        """The pid of this instance's running Asterisk, or None.

        A pid file alone proves nothing: an Asterisk killed with SIGKILL stays a zombie child of
        the process that started it (``cti run``) until reaped, and ``kill(pid, 0)`` succeeds on a
        zombie; after a reboot the pid may belong to anything. So the child is reaped when it is
        ours, and the pid must be a live (not zombie) process whose command line is Asterisk
        with this instance's configuration."""
        if self._proc is not None and self._proc.poll() is not None:
            self._proc = None  # reaped: a killed Asterisk no longer looks alive
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        _reap(pid)  # started by another ManagedPbx of this process: still our child
        if not _is_instance_asterisk(pid, self.instance_path):
            return None
        return pid

    def up(self, *, progress: bool = True) -> PbxStatus:
        if self.settings.pbx.mode == "system":
            raise PbxError("pbx.mode is 'system': the engine uses the installed Asterisk and does "
                           "not start one; use `cti pbx status`")
        if self.pid() is not None:
            # Already running: bring its configuration up to date with the templates and settings.
            before = {name: _read(self.instance_dir / "etc" / name) for name in RESTART_ONLY}
            self.write_config()
            self.cli("core reload")
            self.wait_ready()
            stale = [name for name, text in before.items() if _read(self.instance_dir / "etc" / name) != text]
            if stale:  # e.g. an upgrade's sorcery.conf (the desk phone locks): not applied until a restart
                note = (f"pbx: {', '.join(stale)} changed, which a reload does not apply: restart Asterisk when "
                        "no calls are up (cti pbx down && cti pbx up)")
                log.warning("%s", note)
                if progress:
                    print(note, flush=True)
            return self.status()
        # An Asterisk just killed shows as a zombie before its last thread has exited and closed
        # its sockets: give its AMI port a moment to come free.
        _check_port_free(self.settings.ami.host, self.settings.ami.port, "ami.port", wait_s=5.0)
        self.ensure_rootfs()
        self.write_hosts()
        self.write_config()
        # This run's log starts empty (tests and `cti pbx logs` read only it), but the last run's,
        # what an administrator restarts a crashed Asterisk to read, is kept beside it.
        with contextlib.suppress(FileNotFoundError):
            self.log_file.replace(self.log_file.with_name("messages.previous"))
        if progress:
            print(f"pbx: starting Asterisk instance '{self.settings.pbx.instance}' "
                  f"(AMI {self.settings.ami.port}, SIP {self.settings.pbx.sip_port})", flush=True)
        if self._proc is not None:  # a previous Asterisk of ours, gone: reap it before starting anew
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(5)
            self._proc = None
        # Asterisk's console output (its start's notices and errors): the engine's user and group only.
        with open(os.open(self.console_log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640), "wb") as out:
            os.fchmod(out.fileno(), 0o640)  # a console.log of an older version was 0644
            proc = subprocess.Popen(
                ["chroot", str(self.rootfs), "asterisk", "-C", f"{self.instance_path}/etc/asterisk.conf",
                 "-f", "-U", RUN_USER, "-G", RUN_USER, "-n"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                # What Asterisk creates (messages and queue_log, which hold callers' numbers; recordings,
                # voicemail, AstDB) is its user's and group's only: 0640 files, 0750 directories.
                start_new_session=True, umask=ASTERISK_UMASK,
            )
        self._proc = proc
        self.pid_file.write_text(str(proc.pid))
        try:
            self.wait_ready(proc=proc)
        except PbxError:
            self.down()
            raise
        return self.status()

    def wait_ready(self, proc: subprocess.Popen[bytes] | None = None) -> None:
        deadline = time.monotonic() + self.settings.pbx.ready_timeout_s
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                tail = self.console_log.read_text(errors="replace")[-2000:]
                raise PbxError(f"Asterisk exited with code {proc.returncode} while starting:\n{tail}")
            if ami_fully_booted(self.settings):
                return
            time.sleep(0.3)
        raise PbxError(f"AMI did not answer on {self.settings.ami.host}:{self.settings.ami.port} "
                       f"within {self.settings.pbx.ready_timeout_s:.0f} s (see {self.log_file})")

    def down(self) -> bool:
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            _reap(pid)
            time.sleep(0.1)
        else:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _reap(pid)
        if self._proc is not None:
            self._proc.wait(5)
            self._proc = None
        self.pid_file.unlink(missing_ok=True)
        return True

    def status(self) -> PbxStatus:
        if self.settings.pbx.mode == "system":
            ready = ami_fully_booted(self.settings)
            return PbxStatus(ready, None, ready, "system Asterisk" + ("" if ready else " (AMI not answering)"))
        pid = self.pid()
        ready = pid is not None and ami_fully_booted(self.settings)
        detail = f"instance '{self.settings.pbx.instance}' in {self.rootfs}"
        return PbxStatus(pid is not None, pid, ready, detail)

    def cli(self, command: str) -> str:
        if "\n" in command or "\r" in command:
            raise PbxError("the CLI command must be one line")
        if self.settings.pbx.mode == "system":
            argv = [self.settings.pbx.system_cli, "-rx", command]
        else:
            if self.pid() is None:
                raise PbxError("Asterisk is not running (cti pbx up)")
            argv = ["chroot", str(self.rootfs), "asterisk", "-C",
                    f"{self.instance_path}/etc/asterisk.conf", "-rx", command]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        if proc.returncode != 0:
            raise PbxError(f"asterisk -rx failed: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc.stdout

    def logs(self, lines: int = 100) -> str:
        path = self.log_file if self.log_file.exists() else self.console_log
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def remove_instance(self) -> None:
        """Delete this instance's files (tests clean up their own instances)."""
        self.down()
        shutil.rmtree(self.instance_dir, ignore_errors=True)


def render_config(settings: Settings, directory: Path) -> list[Path]:
    """Write the configuration ``cti pbx up`` would give its Asterisk, rendered for these settings,
    into ``directory`` (0700, files 0600: they hold the AMI and SIP secrets), for an Asterisk of
    one's own (``pbx.mode: system``, docs/deployment.md). Paths that name an instance's own
    directories (asterisk.conf's, the softphone's certificate) point into ``directory``."""
    s = with_installation_secrets(settings, session=False)
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory.chmod(0o700)
    except OSError as err:  # an existing file, a path through one, a directory not ours to create
        raise PbxError(f"{directory}: cannot write the configuration there: {err.strerror or err}") from None
    rendered = render_templates(s, s.pbx.rootfs, directory, str(directory.resolve()))
    written = []
    for name, text in rendered.items():
        _write_private(directory / name, text)
        written.append(directory / name)
    return written


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def _write_private(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)


def ami_fully_booted(settings: Settings, timeout: float = 2.0) -> bool:
    """True when AMI accepts our login and Asterisk reports FullyBooted."""
    try:
        with socket.create_connection((settings.ami.host, settings.ami.port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            secret = settings.ami.secret.get_secret_value()
            sock.sendall(f"Action: Login\r\nUsername: {settings.ami.username}\r\n"
                         f"Secret: {secret}\r\nEvents: system\r\n\r\n".encode())
            data = b""
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and b"FullyBooted" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    return False
                data += chunk
                if b"Authentication failed" in data:
                    raise PbxError("AMI refused the configured username/secret")
            try:
                sock.sendall(b"Action: Logoff\r\n\r\n")
            except OSError:
                pass
            return b"FullyBooted" in data
    except (OSError, TimeoutError):
        return False


def _check_port_free(host: str, port: int, field: str, wait_s: float = 0.0) -> None:
    deadline = time.monotonic() + wait_s
    while True:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
                return
            except OSError as err:
                if time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                raise PbxError(f"{field}: port {port} on {host} is already in use ({err.strerror}); "
                               f"stop what holds it or set CTI_{field.upper().replace('.', '__')}") from None


def _private_logs(log_dir: Path) -> None:
    """Asterisk's log directory 0750 and what is in it (messages.previous, queue_log, and files an
    older version left 0644) without access for others: its lines carry callers' numbers."""
    if not log_dir.is_dir():
        return
    log_dir.chmod(0o750)
    for path in log_dir.iterdir():
        mode = path.lstat().st_mode
        if path.is_file() and not path.is_symlink() and mode & 0o007:
            path.chmod(mode & 0o770)


def _chown_tree(top: Path, uid: int, gid: int) -> None:
    """Give a tree to Asterisk's user (instances created when it ran as root included)."""
    for path in (top, *top.rglob("*")):
        st = path.lstat()
        if (st.st_uid, st.st_gid) != (uid, gid):
            os.lchown(path, uid, gid)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _is_instance_asterisk(pid: int, instance_path: str) -> bool:
    """True when ``pid`` is a live Asterisk running this instance's configuration (not a zombie,
    not a process that reused the pid)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8", errors="replace")
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:  # gone, or /proc hides it
        return False
    state = next((line.split(":", 1)[1].split() for line in status.splitlines() if line.startswith("State:")), [])
    if not state or state[0] in ("Z", "X"):  # zombie or dead: killed, waiting to be reaped
        return False
    # chroot execs Asterisk in place (same pid): argv is ``asterisk -C <inst>/etc/asterisk.conf ...``.
    # A zombie's cmdline is empty, which the check above already caught.
    names = [a.decode(errors="replace") for a in argv if a]
    return bool(names) and Path(names[0]).name in ("asterisk", "chroot") \
        and f"{instance_path}/etc/asterisk.conf" in names
