"""Delegated execution's shared types (issue 29): what a protocol becomes when a cycler runs it on
its own (:mod:`drivers.delegated.program`) and what such a cycler channel offers
(:mod:`drivers.delegated.channel`). They live in ``drivers`` because the step-file writers and the
drivers use them, and drivers know nothing of ``bench``; the bench's compiler and runner import
them from here.
"""
