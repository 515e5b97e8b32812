"""Simulated Keysight N6705C mainframes (N6781A channels, one cell each) on loopback TCP, one port
per mainframe as a lab's mainframes each have their own LAN address: what ``bench perf``'s
multi-channel-instrument figure samples (``bench/perf/mainframes.py``), in a process of its own::

    python -m bench.simulated.n6700_servers --serve MAINFRAMES PER_MAINFRAME --write FILE

writes the resources as JSON to FILE and serves until its standard input closes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

from bench.simulated.multichannel import SteppedClock
from sim_instruments.cyclers.keysight_n6700 import KeysightN6700Sim
from sim_instruments.wire.tcp_server import LOOPBACK, LineServer
from sim_instruments.world.clock import ScaledClock
from sim_instruments.world.sim_world import SimWorld

#: Physics step of the served world, s (as bench.simulated.multichannel.SERVE_STEP_S).
SERVE_STEP_S = 0.02
#: Idle wake-up period of each simulated mainframe's server threads, s: 2 threads per mainframe
#: waking 20 times a second (LineServer's default 0.05 s) would load the server process with
#: ~5000 wake-ups a second at 128 mainframes, which a lab's instruments do not cost the controller.
SERVER_POLL_S = 0.5


def serve(mainframes: int, per_mainframe: int, speed: float = 1.0) -> tuple[list[Any], list[str], Any]:
    """Start ``mainframes`` simulated N6705C servers on 127.0.0.1; (servers, resources, world)."""
    clock = SteppedClock(ScaledClock(speed), SERVE_STEP_S)
    world = SimWorld.single_cell(clock, soc=0.5, channels=mainframes * per_mainframe)
    servers: list[Any] = []
    resources: list[str] = []
    try:
        for m in range(mainframes):
            cells = list(range(m * per_mainframe, (m + 1) * per_mainframe))
            frontend = KeysightN6700Sim(world, cells, serial=f"MY56{m:06d}")
            server = LineServer(frontend, clock.now_s, name=f"n6705-{m}", lock=world.lock,
                                poll_s=SERVER_POLL_S).start()
            servers.append(server)
            resources.append(f"TCPIP::{LOOPBACK}::{server.port}::SOCKET")
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers, resources, world


def _serve_main(mainframes: int, per_mainframe: int, out: Path) -> int:
    servers, resources, world = serve(mainframes, per_mainframe)
    stop = threading.Event()

    def tick() -> None:  # keep the physics near the clock between queries (as bench.multisim)
        while not stop.wait(0.1):
            world.sync()

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"resources": resources, "per_mainframe": per_mainframe}), encoding="utf-8")
        os.replace(tmp, out)
        sys.stdin.read()  # until the parent closes our stdin (or dies)
    finally:
        stop.set()
        for server in servers:
            server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Serve until standard input closes (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m bench.simulated.n6700_servers")
    parser.add_argument("--serve", nargs=2, type=int, metavar=("MAINFRAMES", "PER_MAINFRAME"), required=True)
    parser.add_argument("--write", type=Path, required=True)
    args = parser.parse_args(argv)
    return _serve_main(args.serve[0], args.serve[1], args.write)


if __name__ == "__main__":
    sys.exit(main())
