"""The per-sample fast paths of the SCPI drivers do what the general paths do: the retries of
``ScpiInstrument.query`` / ``query_parsed`` (attempts, log lines, device clears, errors) and the
reply parsers of the Keithley 2460 and the DAQ970A (same values, same errors)."""

from __future__ import annotations

import logging
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.errors import InstrumentError, InstrumentReplyError, InstrumentTimeout
from drivers.keithley24xx import READ_COMMAND, Keithley2460
from drivers.keysight_daq import OVERLOAD, KeysightDaq970a
from drivers.scpi import ScpiInstrument, parse_floats
from tests.drivers.conversation import Conversation


class ClearingConversation(Conversation):
    """A conversation whose transport has a device clear (recorded as a ``CLEAR`` message)."""

    def clear(self) -> None:
        self.pairs.insert(self.position, ("CLEAR", None))
        self._next("CLEAR", expect_reply=False)


def _instrument(pairs, cls=ScpiInstrument, **kwargs):
    conv = ClearingConversation(pairs)
    return cls(conv, name="meter", **kwargs), conv


def test_a_timeout_is_retried_after_a_clear_and_logged(caplog):
    inst, conv = _instrument([("X?", "TIMEOUT"), ("X?", "TIMEOUT"), ("X?", "1")])
    with caplog.at_level(logging.WARNING, logger="drivers.scpi"):
        assert inst.query("X?") == "1"
    assert [m for _, m in conv.pairs] == ["TIMEOUT", None, "TIMEOUT", None, "1"]
    assert [r.getMessage() for r in caplog.records] == [
        "meter (conversation): timeout on 'X?', retrying (1)",
        "meter (conversation): timeout on 'X?', retrying (2)",
    ]
    conv.assert_done()


def test_three_timeouts_are_an_error_naming_the_instrument():
    inst, conv = _instrument([("X?", "TIMEOUT")] * 3)
    with pytest.raises(InstrumentTimeout, match=r"^meter: conversation: no reply to 'X\?'$") as info:
        inst.query("X?")
    assert isinstance(info.value.__cause__, InstrumentTimeout)
    conv.assert_done()


def test_a_query_that_is_not_idempotent_is_not_retried():
    inst, conv = _instrument([("INIT;*OPC?", "TIMEOUT")])
    with pytest.raises(InstrumentTimeout, match="^meter: "):
        inst.query("INIT;*OPC?", idempotent=False)
    conv.assert_done()


def test_without_retries_the_first_timeout_and_garbled_reply_are_errors():
    class NoRetries(ScpiInstrument):
        query_retries = 0

    inst, conv = _instrument([("X?", "TIMEOUT"), ("X?", "junk")], cls=NoRetries)
    with pytest.raises(InstrumentTimeout):
        inst.query_parsed("X?", lambda reply: parse_floats(reply, 1, where="X?"))
    with pytest.raises(InstrumentReplyError, match="X?: expected a number, got 'junk'"):
        inst.query_parsed("X?", lambda reply: parse_floats(reply, 1, where="X?"))
    conv.assert_done()


def test_timeouts_and_garbled_replies_share_the_retries_of_a_parsed_query(caplog):
    # attempt 1 of the parse: a timeout then a reply (the query's own retry), garbled;
    # attempt 2: garbled; attempt 3: a timeout then a good reply
    inst, conv = _instrument([("X?", "TIMEOUT"), ("X?", "junk"), ("X?", "junk"),
                              ("X?", "TIMEOUT"), ("X?", "2.5")])
    with caplog.at_level(logging.WARNING, logger="drivers.scpi"):
        assert inst.query_parsed("X?", lambda reply: parse_floats(reply, 1, where="X?")) == [2.5]
    assert [r.getMessage() for r in caplog.records] == [
        "meter (conversation): timeout on 'X?', retrying (1)",
        "meter (conversation): garbled reply to 'X?', asking again (1)",
        "meter (conversation): garbled reply to 'X?', asking again (2)",
        "meter (conversation): timeout on 'X?', retrying (1)",
    ]
    conv.assert_done()


def test_other_transport_errors_are_named_and_not_retried():
    class Failing(Conversation):
        def query(self, message: str) -> str:
            self._next(message, expect_reply=True)
            raise InstrumentError("conversation: bus error")

    inst = ScpiInstrument(Failing([("X?", "1"), ("Y?", "1")]), name="meter")
    with pytest.raises(InstrumentError, match=r"^meter: conversation: bus error$"):
        inst.query("X?")
    with pytest.raises(InstrumentError, match=r"^meter: conversation: bus error$"):
        inst.query_parsed("Y?", float)


# -- parsers: the fast path against the general one ------------------------------------------
NUMBER_TEXTS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(lambda v: f"{v:+.6E}"),
    st.sampled_from(["+9.90000000E+37", "-9.90000000E+37", "9.0E+37", "nan", "NaN", "inf", "-inf",
                     " 1.5 ", "1e400", "", "junk", "1_0", "+3.7\x13\x1fgarb", "0x10"]),
)
REPLIES = st.lists(NUMBER_TEXTS, min_size=1, max_size=4).map(",".join)


def _outcome(fn, *args):
    try:
        values = fn(*args)
    except InstrumentReplyError as exc:
        return "error", str(exc)
    return "ok", [("nan" if math.isnan(v) else v) for v in values]


@given(REPLIES)
def test_keithley_reading_parser_matches_parse_floats(reply):
    smu = Keithley2460(Conversation([]), name="cycler")
    expected = _outcome(lambda r: parse_floats(r, 2, where=f"{smu.where} :READ?"), reply)
    assert _outcome(smu._parse_reading, reply) == expected


@given(REPLIES, st.integers(min_value=1, max_value=4))
def test_daq_scan_parser_matches_parse_floats_then_overload_to_nan(reply, channels):
    daq = KeysightDaq970a(Conversation([]))
    daq.channels = tuple(range(101, 101 + channels))

    def general(r: str) -> list[float]:
        values = parse_floats(r, channels, where=f"{daq.where} READ?")
        return [math.nan if abs(v) >= OVERLOAD else v for v in values]

    assert _outcome(daq._parse_scan, reply) == _outcome(general, reply)


def test_measure_and_read_c_go_through_one_query_each():
    smu, conv = _instrument([(READ_COMMAND, "+3.7E+00,-5.0E+00")], cls=Keithley2460)
    assert smu.measure() == (3.7, -5.0)
    conv.assert_done()
    daq, conv = _instrument([("READ?", "+2.5E+01,+9.9E+37,-2.0E+01")], cls=KeysightDaq970a)
    daq.channels = (101, 102, 103)
    first, second, third = daq.read_c()
    assert (first, third) == (25.0, -20.0) and math.isnan(second)
    conv.assert_done()
