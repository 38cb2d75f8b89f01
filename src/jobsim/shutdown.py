"""Graceful-shutdown signals for a worker process."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType


class ShutdownSignals:
    """SIGTERM/SIGINT handling that works even while the main thread is stuck in C code.

    A Python signal handler only runs when the main thread returns to the interpreter, which a
    call blocked inside the database driver or the model may not do for a long time. The C-level
    handler also writes the signal number to a wakeup pipe at once; a watcher thread reading it
    starts the shutdown. Must be created from the main thread.

    The Python-level handler does nothing but keep the default action (death) away: it runs in
    the main thread between two bytecodes, possibly while that thread holds a non-reentrant
    lock (inside `Event.wait`, `Thread.start`), and `on_signal` takes such locks (`Event.set`,
    starting the grace thread), so calling it there could deadlock the process for good. Only
    the watcher thread calls `on_signal`.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, on_signal: Callable[[], None]) -> None:
        self._on_signal = on_signal
        self._previous = {signum: signal.signal(signum, self._handle) for signum in self.SIGNALS}
        read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)
        self._previous_wakeup = signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        threading.Thread(
            target=self._watch, args=(read_fd,), name="jobsim-signals", daemon=True
        ).start()

    def _handle(self, _signum: int, _frame: FrameType | None) -> None:
        """Nothing: the watcher thread acts on the signal (see the class notes)."""

    def _watch(self, read_fd: int) -> None:
        try:
            while data := os.read(read_fd, 64):
                if any(number in self.SIGNALS for number in data):
                    self._on_signal()
        except OSError:
            pass
        finally:
            os.close(read_fd)

    def restore(self) -> None:
        """Put back the previous handlers and wakeup fd; the watcher sees EOF and ends."""
        signal.set_wakeup_fd(self._previous_wakeup)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        os.close(self._write_fd)
