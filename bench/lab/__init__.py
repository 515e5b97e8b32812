"""The lab layer: a run catalog and a job queue in SQL (SQLite by default, PostgreSQL for a lab),
bench workers that claim queued jobs, and parameter sweeps on Dask.

Nothing here is on the sample path: safety, acquisition and the run file stay local to the bench.
See docs/lab.md.
"""
