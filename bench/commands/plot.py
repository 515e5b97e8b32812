"""``bench plot``: the run view in a window (``--live``: follows a run being written) or a PNG."""

from __future__ import annotations

import argparse
import sys

from bench.commands.common import error


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench plot``."""
    plot = sub.add_parser(
        "plot", help="plot a run: V, I, temperatures, capacity per cycle, Nyquist",
        description="Opens a window (pyqtgraph) on the run file; --live keeps reading it while the run "
                    "writes (SWMR). --png renders the same view to a file without a display.")
    plot.add_argument("run_file")
    plot.add_argument("--live", action="store_true", help="follow the run while it is written")
    plot.add_argument("--png", metavar="FILE", help="render to a PNG file instead of a window (offscreen)")
    plot.add_argument("--width", type=int, default=1600, help="PNG width, px (default 1600)")
    plot.add_argument("--height", type=int, default=1000, help="PNG height, px (default 1000)")
    plot.set_defaults(handler=cmd_plot)


def cmd_plot(args: argparse.Namespace) -> int:
    """``bench plot RUN.h5 [--live] [--png FILE]``."""
    from bench.plot.live import plotting_available, window_problem
    from bench.runfile.reader import RunFile, RunFileError

    missing = plotting_available()
    if missing:
        return error(f"bench plot: {missing}", 2)
    if not args.live:
        from bench.runfile.probe import check_in_child

        try:
            check_in_child(args.run_file)  # no damage can hang this process (a child opens it first)
        except RunFileError as exc:
            return error(str(exc), 2)
    if args.png:
        if args.width < 200 or args.height < 150:
            return error("--width/--height: at least 200 x 150 px", 2)
        from bench.plot.render import render_png

        try:
            path = render_png(args.run_file, args.png, args.width, args.height)
        except RunFileError as exc:
            return error(str(exc), 2)
        except OSError as exc:
            return error(f"{args.png}: {exc}", 2)
        sys.stdout.write(f"{path}\n")
        return 0
    problem = window_problem()  # checked here: Qt would abort the process instead of raising
    if problem:
        return error(problem, 2)
    if not args.live:
        try:
            with RunFile(args.run_file):
                pass
        except RunFileError as exc:
            return error(str(exc), 2)
    from bench.plot.live import main as live_main

    return live_main([args.run_file] + ([] if args.live else ["--once"]))
