"""CellBench controller: engine, safety, run files, reports, configuration, CLI."""

__version__ = "0.1.0"
