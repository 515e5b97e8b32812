"""Simulated temperature meters / data acquisition units reading the shared world's cell and air."""
