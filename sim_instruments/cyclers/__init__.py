"""Simulated cyclers: SMUs, bidirectional supplies and commercial cycler systems, each speaking its real wire protocol on the shared world."""
