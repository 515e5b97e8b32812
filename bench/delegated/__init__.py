"""Delegated execution: a protocol compiled to a cycler's own step file and run by the cycler,
with the bench polling, logging and supervising every sample (issue 29).

The vendor-neutral program and the channel interface live in :mod:`drivers.delegated` (the
drivers and step-file writers use them, and drivers know nothing of ``bench``). Here:

* :mod:`bench.delegated.compiler`: protocol -> program, every feature that needs the PC refused
  at ``file:line:col``, then the vendor format's own table;
* :mod:`bench.delegated.execute`: ``bench run`` on such a cycler (run file with the step file);
* :mod:`bench.delegated.runner`: download, start, poll, backfill, supervise, stop and confirm;
* :mod:`bench.delegated.tracker`: the cycler's records -> samples, steps and cycles;
* :mod:`bench.delegated.observation`: the final observation and the window after a trip;
* :mod:`bench.delegated.cycler`: a channel in the cycler role for the safe-state sequence.
"""
