"""A local SMTP server (aiosmtpd) that keeps every message in a Maildir, for `make run`.

The dashboard's /mailbox page reads that Maildir, so a new user sees the mail a click caused.
"""

import argparse
import mailbox
import signal
import threading
from pathlib import Path

from aiosmtpd.controller import Controller


class MaildirHandler:
    def __init__(self, directory: str):
        Path(directory).parent.mkdir(parents=True, exist_ok=True)  # Maildir makes its own folders
        self.box = mailbox.Maildir(directory, create=True)
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        with self.lock:
            self.box.add(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


def start(port: int, directory: str) -> Controller:
    controller = Controller(MaildirHandler(directory), hostname="127.0.0.1", port=port)
    controller.start()
    return controller


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--dir", default="instance/mailbox")
    args = parser.parse_args()
    controller = start(args.port, args.dir)
    print(f"SMTP catcher on 127.0.0.1:{args.port}, keeping mail in {args.dir}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
