"""Instrument drivers: role interfaces, transports and one module per instrument family.

This package knows nothing of ``bench``, ``protocols`` or ``sim_instruments``.
"""
