"""A PostgreSQL server the test can stop and start again (database outage tests)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.servers import _pg_bin, free_port, wait_port


class ControlledPostgres:
    def __init__(self) -> None:
        self.bindir = _pg_bin()
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="cti-pg-outage-"))
        os.chmod(self.workdir, 0o777)
        self.data = self.workdir / "data"
        self._as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*self._as_pg, str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "cti",
                        "--no-sync"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.start()
        subprocess.run([str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "cti", "cti"],
                       check=True)

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://cti@127.0.0.1:{self.port}/cti"

    def start(self) -> None:
        subprocess.run([*self._as_pg, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-w", "-l",
                        str(self.workdir / "log"), "-o", f"-p {self.port} -k {self.workdir} "
                        "-c listen_addresses=127.0.0.1 -c fsync=off", "start"], check=True, stdout=subprocess.DEVNULL)
        wait_port(self.port)

    def stop(self) -> None:
        subprocess.run([*self._as_pg, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def remove(self) -> None:
        subprocess.run([*self._as_pg, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                       check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.workdir, ignore_errors=True)
