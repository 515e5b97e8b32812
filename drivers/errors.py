"""Exceptions raised by drivers. Every message names the instrument and what it was asked."""

from __future__ import annotations


class InstrumentError(Exception):
    """Communication with an instrument failed or it reported an error (bench exit code 4)."""


class InstrumentTimeout(InstrumentError):
    """No (complete) reply within the timeout."""


class InstrumentReplyError(InstrumentError):
    """The instrument answered something that cannot be parsed (garbage, wrong instrument)."""


class InstrumentCommandError(InstrumentError):
    """The instrument's error queue reported an error after a command."""


class ProtectionNotTaken(InstrumentCommandError):
    """A protection setting read back differs from the value sent: the instrument did not take it
    (an instrument error before any output, bench exit code 4)."""


class SetpointOutOfRange(ValueError):
    """A requested setting lies outside what the instrument (or the cell) allows."""
