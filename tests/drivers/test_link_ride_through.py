"""Riding through link faults on the bench clock (drivers/link_policy.py): timeouts and garbled
replies are asked again after a back-off slept on the given clock, until the fault is older than
the outage limit; the first attempt that starts after the limit and fails is the error. A fake
clock: nothing sleeps on the wall clock."""

from __future__ import annotations

import pytest

from drivers.errors import InstrumentReplyError, InstrumentTimeout
from drivers.link_policy import LINK_OUTAGE_LIMIT_S, LinkPolicy
from drivers.scpi import ScpiInstrument, parse_floats
from tests.drivers.conversation import Conversation


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def now_s(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.t += s


def _meter(pairs):
    conv = Conversation(pairs)
    inst = ScpiInstrument(conv, name="meter")
    clock = FakeClock()
    inst.ride_through(clock.now_s, clock.sleep)
    return inst, conv, clock


def _parse(reply: str) -> list[float]:
    return parse_floats(reply, 1, where="X?")


def test_three_garbled_replies_in_a_row_are_ridden_through():
    inst, conv, clock = _meter([("X?", "jun")] * 3 + [("X?", "1.5")])
    assert inst.query_parsed("X?", _parse) == [1.5]
    assert clock.sleeps == [0.5, 1.0, 2.0]  # back-off on the bench clock
    conv.assert_done()


def test_timeouts_within_the_limit_are_ridden_through():
    inst, conv, clock = _meter([("X?", "TIMEOUT")] * 5 + [("X?", "2")])
    assert inst.query("X?") == "2"
    assert clock.t < LINK_OUTAGE_LIMIT_S
    conv.assert_done()


def test_the_first_attempt_after_the_limit_that_fails_is_the_error():
    # back-offs 0.5, 1, 2, 2, 2, 2 reach 9.5 s; the next (2 s) passes 10 s: that attempt is the last
    inst, conv, clock = _meter([("X?", "jun")] * 8)
    with pytest.raises(InstrumentReplyError):
        inst.query_parsed("X?", _parse)
    assert clock.sleeps == [0.5, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0] and clock.t >= LINK_OUTAGE_LIMIT_S
    conv.assert_done()
    inst, conv, clock = _meter([("X?", "TIMEOUT")] * 8)
    with pytest.raises(InstrumentTimeout, match="^meter: "):
        inst.query("X?")
    conv.assert_done()


def test_a_query_that_is_not_idempotent_is_never_ridden_through():
    inst, conv, clock = _meter([("INIT;*OPC?", "TIMEOUT")])
    with pytest.raises(InstrumentTimeout):
        inst.query("INIT;*OPC?", idempotent=False)
    assert clock.sleeps == []
    conv.assert_done()


def test_the_policy_states_when_a_driver_gives_up():
    policy = LinkPolicy()
    assert policy.outage_limit_s == LINK_OUTAGE_LIMIT_S == 10.0
    # an attempt started just before the limit waits a timeout, the last one a back-off later another
    assert policy.give_up_s(2.0) == 10.0 + 2.0 + 2 * 2.0
