"""Multi-channel benches: one engine per cycler channel, sharing the clock, the chamber and the
thermocouple meters (``sharing``), and the run of a protocol on every channel (``run``)."""
