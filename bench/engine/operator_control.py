"""Operator requests to a running engine: pause, resume, abort.

From a terminal: ``kill -USR1 PID`` toggles pause (``bench run`` logs its PID at start), Ctrl-C
or ``kill -TERM PID`` aborts safely (output off first, exit 130). While paused the engine keeps
sampling and the supervisor keeps checking, the cycler output is off and the chamber holds its
setpoint; the paused time does not count toward the step's time. Each action is an event in
the run file. Programs (and tests) call the ``request_*`` methods, which are safe from signal
handlers and other threads: they only set flags that the engine reads at the next sample.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class OperatorControl:
    """Pending operator requests; ``pending`` is the one flag the engine reads per sample."""

    def __init__(self) -> None:
        self.pending = False
        self.pause_wanted = False
        self.abort_wanted = False

    def request_pause(self) -> None:
        """Pause at the next sample."""
        self.pause_wanted = True
        self.pending = True

    def request_resume(self) -> None:
        """Resume a paused run."""
        self.pause_wanted = False
        self.pending = True

    def toggle_pause(self) -> None:
        """Pause if running, resume if paused."""
        if self.pause_wanted:
            self.request_resume()
        else:
            self.request_pause()

    def request_abort(self) -> None:
        """Abort safely (output off) at the next sample."""
        self.abort_wanted = True
        self.pending = True

    def install_signal_handlers(self) -> Callable[[], None]:
        """SIGUSR1 toggles pause, SIGTERM aborts; returns a function restoring the old handlers.

        Does nothing off the main thread or where the signals do not exist (Windows).
        """
        if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGUSR1"):
            return lambda: None
        previous = {
            signal.SIGUSR1: signal.signal(signal.SIGUSR1, lambda _s, _f: self.toggle_pause()),
            signal.SIGTERM: signal.signal(signal.SIGTERM, lambda _s, _f: self.request_abort()),
        }

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore
