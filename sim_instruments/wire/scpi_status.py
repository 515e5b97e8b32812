"""IEEE 488.2 status reporting for simulated SCPI instruments (IEEE 488.2-1992 section 11).

Standard Event Status Register (``*ESR?``, enable ``*ESE``): bit 0 OPC (operation complete, set
by ``*OPC``), 2 QYE (query error, SCPI -4xx), 3 DDE (device-dependent, -3xx), 4 EXE (execution
error, -2xx), 5 CME (command error, -1xx). Status byte (``*STB?``, enable ``*SRE``): bit 2 EAV
(error queue not empty, SCPI-1999 Vol. 1 9.2), 5 ESB (an enabled event is set), 6 MSS (an enabled
summary is set). A simulated instrument finishes every operation before it answers, so ``*OPC``
sets OPC at once, ``*OPC?`` answers 1 and ``*WAI`` has nothing to wait for. ``:STATus:PRESet``
clears the SCPI event enable registers (SCPI-1999 Vol. 2 20.7), which these simulators keep at 0.
"""

from __future__ import annotations

from sim_instruments.wire.scpi_frontend import ScpiFrontEnd, parse_number

ESR_OPC, ESR_QYE, ESR_DDE, ESR_EXE, ESR_CME = 0x01, 0x04, 0x08, 0x10, 0x20
STB_EAV, STB_ESB, STB_MSS = 0x04, 0x20, 0x40


def _esr_bit(code: int) -> int:
    """The event status bit an SCPI error number sets (IEEE 488.2 11.5.1.1, SCPI-1999 Vol. 2 21)."""
    if -199 <= code <= -100:
        return ESR_CME
    if -299 <= code <= -200:
        return ESR_EXE
    if -399 <= code <= -300:
        return ESR_DDE
    if -499 <= code <= -400:
        return ESR_QYE
    return 0


class StatusFrontEnd(ScpiFrontEnd):
    """A SCPI front end with the IEEE 488.2 status registers and their common commands."""

    def __init__(self, idn: str) -> None:
        super().__init__(idn)
        self.esr = 0
        self.ese = 0
        self.sre = 0
        add = self.add
        add("*ESR?", self._read_esr)
        add("*ESE", lambda a: self._set_mask("ese", a))
        add("*ESE?", lambda _a: str(self.ese))
        add("*SRE", lambda a: self._set_mask("sre", a))
        add("*SRE?", lambda _a: str(self.sre))
        add("*STB?", lambda _a: str(self.status_byte()))
        add("*OPC", self._opc)
        add("*WAI", lambda _a: None)
        add(":STATus:PRESet", lambda _a: None)

    def push_error(self, code: int, detail: str = "") -> None:
        """Queue the error and set its event status bit."""
        super().push_error(code, detail)
        self.esr |= _esr_bit(code)

    def status_byte(self) -> int:
        """The status byte (bit 6 as MSS, as ``*STB?`` reads it)."""
        stb = STB_EAV if self.errors else 0
        if self.esr & self.ese:
            stb |= STB_ESB
        if stb & self.sre & ~STB_MSS:
            stb |= STB_MSS
        return stb

    def _read_esr(self, _args: str) -> str:
        value, self.esr = self.esr, 0  # reading clears it (IEEE 488.2 11.5.1.2)
        return str(value)

    def _set_mask(self, name: str, args: str) -> None:
        setattr(self, name, int(parse_number(args, low=0, high=255)))

    def _opc(self, _args: str) -> None:
        self.esr |= ESR_OPC

    def _cls(self, args: str) -> None:
        """``*CLS``: empty the error queue and the event status register."""
        super()._cls(args)
        self.esr = 0
