"""Delegated execution: a protocol compiled to a cycler's own step file and run by the cycler,
with the bench polling, logging and supervising every sample (issue 29).

The vendor-neutral program and the channel interface live in :mod:`drivers.delegated` (the
drivers and step-file writers use them, and drivers know nothing of ``bench``).
"""
