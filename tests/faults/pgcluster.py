"""A throwaway PostgreSQL cluster that a test or a bench can stop and start at will.

The shared development server must never be stopped, so fault tests start their own:
``initdb`` into a temporary folder (as the ``postgres`` user when running as root, like
``.ci/run``), on a free loopback port. fsync is off: this is for tests and benches only.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def postgres_bin() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin, as .ci/run finds it (or PG_BIN)."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: [int(x) if x.isdigit() else 0 for x in Path(p).parent.parent.name.split(".")])
    if not found:
        raise RuntimeError("PostgreSQL's server binaries are not installed: apt-get install postgresql "
                           "(or set PG_BIN to the folder holding initdb and pg_ctl).")
    return Path(found[-1]).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    def __init__(self, connect_timeout: int = 3):
        self.bin = postgres_bin()
        self.root = Path(tempfile.mkdtemp(prefix="careloop-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "log"
        self.port = free_port()
        self.connect_timeout = connect_timeout
        self._as_root = os.geteuid() == 0
        if self._as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)

    def start(self) -> None:
        options = (f"-k {self.root} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast`` ends every session at once (what a restart or failover looks like to the app)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def createdb(self, name: str) -> str:
        subprocess.run([str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name],
                       check=True, timeout=60)
        return self.url(name)

    def url(self, name: str) -> str:
        return (f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"
                f"?connect_timeout={self.connect_timeout}")

    def destroy(self) -> None:
        try:
            if self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "PgCluster":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.destroy()
