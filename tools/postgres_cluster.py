"""A throwaway PostgreSQL cluster on loopback, from the system's PostgreSQL binaries.

initdb refuses to run as root, so under root the cluster belongs to the `postgres` user.
"""

import glob
import os
import pwd
import shutil
import subprocess
import tempfile

from tools.embedded_redis import free_port


def bindir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


class PostgresCluster:
    def __init__(self, dbname: str = "dashboard"):
        self.dbname = dbname
        self.port = free_port()
        self.bin = bindir()
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed (no initdb found)")
        self.root = tempfile.mkdtemp(prefix="pgcluster-")
        self.data = os.path.join(self.root, "data")
        self.user = None
        if os.geteuid() == 0:
            self.user = pwd.getpwnam("postgres")
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{self.dbname}"

    def _run(self, *args: str) -> None:
        cmd = [os.path.join(self.bin, args[0]), *args[1:]]
        if self.user is not None:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> "PostgresCluster":
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync")
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run("pg_ctl", "-D", self.data, "-o", options, "-l", f"{self.root}/log", "-w", "start")
        self._run(
            "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", self.dbname
        )
        return self

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
