"""The simulated Maccor tester's test procedures: files sent to it, tests started with a named
procedure, run on the world without the PC, and their data files.

From Maccor's help "Remote Control - MacNet - LabView" (the copy in the public pymacnet repository):

* (1, 3) Procedure Exists (``ProcName`` -> ``ProcedurExists`` "TRUE"/"FALSE"); (4, 6) data file name
  and procedure name of a channel; (6, 2) start test (``TestName``, ``ProcName`` ... -> Result "OK"
  or the reason); (6, 11) check test start (Result table: 1 channel not available, 2 procedure does
  not exist, 4 file name exists, 7 compile error: details by (6, 12)).
* (1, 6) Send file to tester and (1, 7) Get file from tester, binary port only ("JSON does not
  support binary data"), TFTP-like: WRQ (OpCode 2, file type, name) answered by ACK block 0, then
  DATA blocks of 500 bytes numbered from 1, each ACKed, ending with a block shorter than 500; RRQ
  (OpCode 1) answered by DATA block 1, the client ACKs each block; ERROR (OpCode 5, code, text).
  File types: 1 Active data files, 3 procedures (``*.000``).

The data file of a test is ``<TestName>.<channel, 3 digits>`` (numeric extension, as the (1, 5)
example ``4259-85-2853_001.005``). A real tester writes it in its binary data format, whose layout is
not published (the help says data files "should be handled by the MIMS"); this simulator serves a
tab-separated text with the columns of Maccor's text export instead (``Rec#``, ``Cyc#``, ``Step``,
``TestTime`` s, ``StepTime`` s, ``Amp-hr``, ``Amps`` (+ charge), ``Volts``, ``State`` C/D/R, ``Temp 1``).
"""

from __future__ import annotations

import logging
import struct
from typing import Any

from sim_instruments.cyclers.maccor_procedure_sim import ProcedureRejected, parse_procedure
from sim_instruments.cyclers.step_machine import StepMachine

logger = logging.getLogger(__name__)

FILE_ACTIVE, FILE_PROCEDURE = 1, 3
OP_RRQ, OP_WRQ, OP_DATA, OP_ACK, OP_ERROR = 1, 2, 3, 4, 5
BLOCK = 500
CHECK_RESULTS = {0: "OK", 1: "Channel not available or selected", 2: "Procedure does not exist",
                 4: "File name exists in Archive", 7: "Compile error. Use function (6, 12) for details"}


class ProcedureTests:
    """Procedures sent to one simulated tester and the tests run from them (by channel)."""

    def __init__(self, system: Any) -> None:
        self.system = system
        self.procedures: dict[str, bytes] = {}  # by lower-case name without ".000"
        self.tests: dict[str, tuple[int, StepMachine, str]] = {}  # data file name -> (chan, machine, procedure)
        self.running: dict[int, StepMachine] = {}
        self.compile_errors: dict[int, str] = {}

    def store(self, file_type: int, name: str, data: bytes) -> str:
        """(1, 6) a received file; "" or the error message."""
        if file_type != FILE_PROCEDURE or not name.lower().endswith(".000"):
            return "Only procedures (*.000) are accepted by this simulator"
        self.procedures[name[:-4].lower()] = data
        return ""

    def fetch(self, file_type: int, name: str) -> bytes | None:
        """(1, 7) a file's bytes, None when it does not exist."""
        if file_type == FILE_PROCEDURE and name.lower().endswith(".000"):
            return self.procedures.get(name[:-4].lower())
        if file_type == FILE_ACTIVE and name in self.tests:
            return _data_file(*self.tests[name][:2])
        return None

    def check(self, chan: int, params: dict[str, Any]) -> int:
        """(6, 11) result code."""
        if self.system.channels[chan].stat != 0 or chan in self.running:
            return 1
        proc = str(params.get("ProcName", "")).strip().lower()
        if proc not in self.procedures:
            return 2
        name = str(params.get("TestName", "")).strip()
        if f"{name}.{chan + 1:03d}" in self.tests:
            return 4
        try:
            parse_procedure(self.procedures[proc])
        except ProcedureRejected as exc:
            self.compile_errors[chan] = str(exc)
            return 7
        return 0

    def start(self, chan: int, params: dict[str, Any], now_s: float) -> str:
        """(6, 2): start ``ProcName`` on ``chan`` under ``TestName``; Result text."""
        code = self.check(chan, params)
        if code:
            return CHECK_RESULTS[code]
        proc = str(params["ProcName"]).strip().lower()
        steps, limits = parse_procedure(self.procedures[proc])
        name = str(params.get("TestName", "Random")).strip()
        if name == "Random":
            name = f"PROC_{chan + 1:03d}_{int(now_s * 1000):x}"
        world = self.system.world
        machine = StepMachine(world.channels[self.system.world_channels[chan]], steps, limits, world.now_s,
                              test_name=name)
        self.tests[f"{name}.{chan + 1:03d}"] = (chan, machine, str(params["ProcName"]).strip())
        self.running[chan] = machine
        state = self.system.channels[chan]
        state.stat, state.rf2, state.test_name, state.test_start_s = 2, 0, name, world.now_s
        self.follow(chan)
        return "OK"

    def follow(self, chan: int) -> None:
        """Bring channel ``chan``'s software state to its machine's (Active / Completed / Suspended)."""
        machine = self.running.get(chan)
        if machine is None:
            return
        machine.on_sync(self.system.world.now_s)
        state = self.system.channels[chan]
        current = self.system.world.channels[self.system.world_channels[chan]].source.actual_current_a
        state.step, state.step_start_s, state.capacity_ah = machine.step_index + 1, machine.step_start_s, \
            machine.step_capacity_ah
        if machine.state == "running":
            state.rf1 = 1 if current > 1e-9 else 2 if current < -1e-9 else 4
        elif machine.state == "alarm":
            state.stat, state.rf1, state.rf2 = 3, 30, 253
        else:
            state.stat, state.rf1 = 4, 0

    def reset(self, chan: int) -> None:
        """(6, 5) on a procedure test: the test ends (its data file stays)."""
        machine = self.running.pop(chan, None)
        if machine is not None:
            machine.stop(self.system.world.now_s, "reset")

    def names(self, chan: int) -> dict[str, str]:
        """(4, 6) fields of the channel's latest procedure test."""
        for file, (c, machine, proc) in reversed(list(self.tests.items())):
            if c == chan:
                return {"TestName": machine.test_name, "ProcName": proc, "Comment": "", "ProcDesc": file}
        return {"TestName": "", "ProcName": "", "Comment": "", "ProcDesc": ""}


def _data_file(chan: int, machine: StepMachine) -> bytes:
    lines = ["Rec#\tCyc#\tStep\tTestTime\tStepTime\tAmp-hr\tAmps\tVolts\tState\tTemp 1"]
    for n, r in enumerate(machine.records, 1):
        state = "C" if r.current_a > 1e-9 else "D" if r.current_a < -1e-9 else "R"
        lines.append(f"{n}\t{r.cycle_index}\t{r.step_index + 1}\t{r.test_time_s:.3f}\t{r.step_time_s:.3f}\t"
                     f"{r.capacity_ah:.6f}\t{r.current_a:.6f}\t{r.voltage_v:.6f}\t{state}\t{r.temperature_c:.3f}")
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


class FileTransfer:
    """One binary connection's (1, 6) / (1, 7) transfers (what the header's Len covers is the data)."""

    def __init__(self, tests: ProcedureTests) -> None:
        self.tests = tests
        self._incoming: tuple[int, str, bytearray, int] | None = None  # type, name, data, next block
        self._outgoing: tuple[int, bytes] | None = None  # type, bytes

    def handle(self, fnum: int, payload: bytes) -> bytes:
        """The reply data (after the header) to one (1, 6) / (1, 7) message."""
        if len(payload) < 2:
            return _error(0, 0, "Message too short")
        file_type, opcode = payload[0], payload[1]
        if fnum == 6:
            return self._send(file_type, opcode, payload[2:])
        return self._get(file_type, opcode, payload[2:])

    def _send(self, file_type: int, opcode: int, rest: bytes) -> bytes:
        if opcode == OP_WRQ:
            (length,) = struct.unpack_from("<H", rest)
            self._incoming = (file_type, rest[2:2 + length].decode("ascii", "replace"), bytearray(), 1)
            return struct.pack("<BBH", file_type, OP_ACK, 0)
        if opcode == OP_DATA and self._incoming is not None:
            ftype, name, data, expected = self._incoming
            (block,) = struct.unpack_from("<H", rest)
            if block != expected:
                return _error(file_type, 4, f"Block {block} out of order (expected {expected})")
            chunk = rest[2:]
            data += chunk
            self._incoming = (ftype, name, data, expected + 1)
            if len(chunk) < BLOCK:
                self._incoming = None
                problem = self.tests.store(ftype, name, bytes(data))
                if problem:
                    return _error(file_type, 2, problem)
            return struct.pack("<BBH", file_type, OP_ACK, block)
        return _error(file_type, 4, "Unexpected message")

    def _get(self, file_type: int, opcode: int, rest: bytes) -> bytes:
        if opcode == OP_RRQ:
            (length,) = struct.unpack_from("<H", rest)
            data = self.tests.fetch(file_type, rest[2:2 + length].decode("ascii", "replace"))
            if data is None:
                return _error(file_type, 1, "File not found")
            self._outgoing = (file_type, data)
            return self._block(1)
        if opcode == OP_ACK and self._outgoing is not None:
            (block,) = struct.unpack_from("<H", rest)
            if block * BLOCK > len(self._outgoing[1]):
                self._outgoing = None
                return b""
            return self._block(block + 1)
        return _error(file_type, 4, "Unexpected message")

    def _block(self, block: int) -> bytes:
        assert self._outgoing is not None
        file_type, data = self._outgoing
        return struct.pack("<BBH", file_type, OP_DATA, block) + data[(block - 1) * BLOCK:block * BLOCK]


def _error(file_type: int, code: int, text: str) -> bytes:
    return struct.pack("<BBH", file_type, OP_ERROR, code) + text.encode("ascii", "replace") + b"\0"
