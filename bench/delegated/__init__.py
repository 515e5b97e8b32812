"""Delegated execution: a protocol compiled to a cycler's own step file and run by the cycler,
with the bench polling, logging and supervising every sample (issue 29).

* :mod:`bench.delegated.program`: the vendor-neutral compiled program (what every step-file
  writer reads).
* :mod:`bench.delegated.channel`: what a cycler channel that runs step files offers the bench.
"""
