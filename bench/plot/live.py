"""The live plot window: a process of its own that polls the run file (SWMR) and redraws.

Started by ``bench run --live`` (see :func:`start_live_plot`) or ``bench plot RUN.h5 --live``.
It only reads the file, so a crash or a hang here never touches acquisition; the run does not
wait for it and it stays open after the run so the technician can look.

    python -m bench.plot.live RUN.h5 [--interval-ms 500] [--once]
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

#: Poll period of the window, ms.
DEFAULT_INTERVAL_MS = 500
#: The window gives up (closes) when the run file has not appeared after this long, s.
DEFAULT_WAIT_S = 600.0


def plotting_available() -> str:
    """``""`` when pyqtgraph and PySide6 are installed, else a one-line reason."""
    missing = [name for name in ("pyqtgraph", "PySide6") if importlib.util.find_spec(name) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (pip install 'cellbench[plot]')"
    return ""


def display_available() -> bool:
    """True when a window can be shown: macOS, Windows, an X11/Wayland display, or a Qt platform
    other than the invisible ones (``offscreen``, ``minimal``) set in QT_QPA_PLATFORM."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform.split(":")[0] in ("offscreen", "minimal"):
        return False
    if sys.platform in ("darwin", "win32") or platform:
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


#: Libraries Qt's xcb platform plugin loads that a fresh Debian/Ubuntu desktop may lack:
#: ``ctypes.util.find_library`` name -> Debian package (Qt 6 "Qt for X11 Requirements").
XCB_LIBRARIES = {
    "xcb-cursor": "libxcb-cursor0", "xcb-icccm": "libxcb-icccm4", "xcb-keysyms": "libxcb-keysyms1",
    "xcb-image": "libxcb-image0", "xcb-render-util": "libxcb-render-util0", "xcb-xkb": "libxcb-xkb1",
    "xkbcommon-x11": "libxkbcommon-x11-0", "xcb-shape": "libxcb-shape0", "xcb-randr": "libxcb-randr0",
}


def window_problem() -> str:
    """``""`` when Qt can open a window here, else one line saying why and what to install.

    Checked before a window process starts: without these libraries Qt aborts the process
    (SIGABRT, "Could not load the Qt platform plugin 'xcb'") instead of raising."""
    if not display_available():
        return "no display to open a window on (DISPLAY unset or QT_QPA_PLATFORM=offscreen); use --png FILE"
    platform = os.environ.get("QT_QPA_PLATFORM", "").split(":")[0]
    uses_xcb = platform == "xcb" or (not platform and sys.platform.startswith("linux")
                                     and bool(os.environ.get("DISPLAY")) and not os.environ.get("WAYLAND_DISPLAY"))
    if not uses_xcb:
        return ""
    import ctypes.util

    missing = [package for name, package in XCB_LIBRARIES.items() if ctypes.util.find_library(name) is None]
    if missing:
        return (f"Qt's xcb platform plugin needs system libraries that are missing: sudo apt install "
                f"{' '.join(missing)} (or use --png FILE)")
    return ""


def start_live_plot(run_path: str | Path, *, interval_ms: int = DEFAULT_INTERVAL_MS,
                    log_path: str | Path | None = None) -> subprocess.Popen | None:
    """Start the window process for ``run_path`` (which may not exist yet); never raises.

    Returns the process, or None (with a logged warning) when plotting is not possible here.
    The child has its own session, so Ctrl-C in the run's terminal stops the run, not the plot,
    and a lower CPU priority (nice 10), so it never competes with acquisition. Its error output
    goes to ``log_path`` if given, else to this terminal (a window that cannot start says why).
    """
    why = plotting_available() or window_problem()
    if why:
        logger.warning("live plot not started: %s", why)
        return None
    stderr = None
    try:
        if log_path is not None:
            stderr = open(log_path, "ab")  # noqa: SIM115 - handed to the child
        return subprocess.Popen(
            [sys.executable, "-m", "bench.plot.live", str(run_path), "--interval-ms", str(interval_ms),
             "--nice", "10"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
    except OSError as exc:
        logger.warning("live plot not started: %s", exc)
        return None
    finally:
        if stderr is not None:
            stderr.close()


#: The window's preferred size, px; it shrinks to fit the screen (a 1280 x 800 laptop shows every
#: panel) and stays resizable.
PREFERRED_SIZE = (1400, 900)
#: Room left for the desktop's panels and the window frame, px.
SCREEN_MARGIN = (40, 80)
#: Smallest size the layout may be squeezed to (each of the three time panels keeps room for its
#: axis labels), px.
MINIMUM_SIZE = (640, 420)


def window_size(available: tuple[int, int] | None = None) -> tuple[int, int]:
    """The live window's size: the preferred size, shrunk to the screen's available area minus a
    margin (``available`` overrides the screen, for tests), never below the minimum."""
    if available is None:
        from pyqtgraph.Qt import QtGui

        screen = QtGui.QGuiApplication.primaryScreen()
        geometry = screen.availableGeometry() if screen is not None else None
        available = (geometry.width(), geometry.height()) if geometry is not None else PREFERRED_SIZE
    width = max(MINIMUM_SIZE[0], min(PREFERRED_SIZE[0], available[0] - SCREEN_MARGIN[0]))
    height = max(MINIMUM_SIZE[1], min(PREFERRED_SIZE[1], available[1] - SCREEN_MARGIN[1]))
    return width, height


class LiveWindow:
    """The run view plus a timer that refreshes it until the run has a final status."""

    def __init__(self, run_path: str | Path, *, interval_ms: int = DEFAULT_INTERVAL_MS, poll: bool = True,
                 wait_s: float = DEFAULT_WAIT_S) -> None:
        import time

        from pyqtgraph.Qt import QtCore

        from bench.plot.data import RunMonitor
        from bench.plot.view import RunView

        self.monitor = RunMonitor(run_path)
        self.view = RunView()
        self.view.setWindowTitle(f"CellBench - {Path(run_path).name}")
        self.view.setMinimumSize(*MINIMUM_SIZE)
        width, height = window_size()
        self.view.resize(width, height)
        self.failures = 0
        self._give_up_at = time.monotonic() + wait_s
        self.timer = QtCore.QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.tick)
        self.tick()
        if poll:
            self.timer.start()

    def tick(self) -> None:
        """One poll: read new rows, redraw; a failure is logged and retried on the next tick."""
        import time

        try:
            self.monitor.refresh()
            self.view.show_monitor(self.monitor)
            self.failures = 0
        except Exception:  # noqa: BLE001 - the window must outlive a bad read
            self.failures += 1
            logger.warning("live plot refresh failed (%d in a row)", self.failures, exc_info=self.failures == 1)
        if self.monitor.finished and self.timer.isActive():
            self.timer.stop()
            self.view.setWindowTitle(self.view.windowTitle() + f" ({self.monitor.status})")
        elif not self.monitor.opened and time.monotonic() > self._give_up_at:
            logger.warning("%s did not appear; closing the live plot", self.monitor.path)
            self.timer.stop()
            self.view.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the window process."""
    parser = argparse.ArgumentParser(prog="python -m bench.plot.live", description=__doc__.splitlines()[0])
    parser.add_argument("run_file")
    parser.add_argument("--interval-ms", type=int, default=DEFAULT_INTERVAL_MS)
    parser.add_argument("--once", action="store_true", help="draw once, do not poll")
    parser.add_argument("--nice", type=int, default=0, help="lower this process's CPU priority by N")
    args = parser.parse_args(argv)
    if args.nice > 0 and hasattr(os, "nice"):
        os.nice(args.nice)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    problem = window_problem()
    if problem:
        sys.stderr.write(f"bench plot: {problem}\n")
        return 2
    from bench.plot.render import qt_app

    app = qt_app(offscreen=False)
    window = LiveWindow(args.run_file, interval_ms=args.interval_ms, poll=not args.once)
    window.view.show()
    code = app.exec()
    window.timer.stop()
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
