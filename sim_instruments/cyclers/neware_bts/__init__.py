"""Simulated Neware BTS 8.0 (XML-over-TCP client API; runs downloaded step files on the world)."""

from sim_instruments.cyclers.neware_bts.system import NewareBtsSim, NewareUnit
from sim_instruments.cyclers.neware_bts.wire import neware_stream, serve_neware

__all__ = ["NewareBtsSim", "NewareUnit", "neware_stream", "serve_neware"]
