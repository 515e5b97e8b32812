"""Simulated thermal chamber controllers (their wire protocols) on the shared world's chamber air."""
