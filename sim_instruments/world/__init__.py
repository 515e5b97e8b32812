"""The shared physical world: virtual / scaled clock, chamber air, cells, faults."""
