"""Two writers made to meet: the first paused at a chosen point, holding what it wrote or
locked and has not committed, while the second runs into it; to test what the second does
then (reads an old snapshot, waits for a row lock, or on SQLite waits for the write lock).

    meeting = Meeting(monkeypatch, assets, "sync_seats")  # the first stops once it has run
    meeting.notice(assets, "_covering_ids")  # the second's point: it has read the coverage
    assert meeting.run(app, first, second) == []

The second begins once the first is paused; the first goes on once the second has reached its
point: on PostgreSQL it does, and then waits for the first's rows; on SQLite it waits for the
write lock before anything, so it is given half a second. Each writer runs in its own thread
(tests.support.factories.run_at_once): the pause and the point are only theirs there, so the
same functions called by the other writer run as they are.
"""

import threading

from tests.support.app import BACKEND
from tests.support.factories import run_at_once

FIRST, SECOND = "first writer", "second writer"  # their threads' names
WAIT = 30  # seconds: a writer that never gets somewhere fails its test instead of hanging it


class Meeting:
    def __init__(self, monkeypatch, owner, name: str, *, before: bool = False):
        """The first writer stops at `owner.name` (a module's function): before it is called,
        or once it has returned."""
        self._monkeypatch = monkeypatch
        self._paused, self._go, self._reached = (threading.Event() for _ in range(3))

        def stop():
            self._paused.set()
            self._go.wait(timeout=WAIT)

        def paused(function, *args, **kwargs):
            if threading.current_thread().name != FIRST:
                return function(*args, **kwargs)
            if before:
                stop()
            result = function(*args, **kwargs)
            if not before:
                stop()
            return result

        self._wrap(owner, name, paused)

    def notice(self, owner, name: str) -> None:
        """The second writer's point: once `owner.name` (a function or class) has returned."""

        def noticing(function, *args, **kwargs):
            result = function(*args, **kwargs)
            if threading.current_thread().name == SECOND:
                self._reached.set()
            return result

        self._wrap(owner, name, noticing)

    def run(self, app, first, second) -> list[str]:
        """Run both; the errors they raised (run_at_once)."""

        def first_writer():
            threading.current_thread().name = FIRST
            first()

        def second_writer():
            threading.current_thread().name = SECOND
            assert self._paused.wait(timeout=WAIT), "the first writer never got to its pause"
            second()

        def release():
            self._paused.wait(timeout=WAIT)
            self._reached.wait(timeout=10 if BACKEND == "postgresql" else 0.5)
            self._go.set()

        return run_at_once(app, first_writer, second_writer, release)

    def _wrap(self, owner, name: str, wrapper) -> None:
        function = getattr(owner, name)
        self._monkeypatch.setattr(
            owner, name, lambda *args, **kwargs: wrapper(function, *args, **kwargs)
        )
