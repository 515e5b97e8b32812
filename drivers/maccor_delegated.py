"""A Maccor test channel running a test procedure on its own (delegated execution) through MacNet.

Facts from Maccor's manual (the MacTest32 help) "Remote Control - MacNet - LabView" (public copy in
the pymacnet repository, docs/macnet_from_maccor_help.pdf), section by section (function numbers):

* (1, 6) Send file to tester, binary TCP port only ("JSON does not support binary data"): header
  ``FClass, FNum, Chan, Len`` (WORDs), then file type (3 = procedure ``*.000``), OpCode 2 (WRQ),
  name length u16, name; the tester ACKs (OpCode 4) block 0, then DATA (OpCode 3) blocks of 500
  bytes numbered from 1 are each ACKed; a block shorter than 500 ends it; OpCode 5 is an error
  (code, null-terminated text). (1, 7) Get file from tester: RRQ (OpCode 1) answered by DATA block
  1, each ACKed by the client; file type 1 = Active data files.
* (1, 3) Procedure Exists; (6, 11) Check test start on channel (Result table; 7 = compile error,
  details from (6, 12)); (6, 2) Start test (``TestName``, ``ProcName`` without ".000"); (4, 7) status
  and readings (``Stat`` 2 Active, 3 Suspended, 4 Completed; ``Step``, ``Cycle``, ``TestTime``);
  (4, 6) test and procedure names; (4, 4) auxiliary readings; (6, 5) Reset ends the test.

Stored records: (1, 7) of the Active data file ``<TestName>.<channel 3 digits>``. A real tester's
data file is binary, its layout not published ("data files should be handled by the MIMS"): this
driver reads the tab-separated text export columns (``Rec#``, ``Cyc#``, ``Step``, ``TestTime``,
``StepTime``, ``Amp-hr``, ``Amps``, ``Volts``, ``State``, ``Temp 1``) that the simulated tester serves;
reading a real tester's binary file is not done. Units: V, A, s, Ah, °C.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import struct

from drivers.delegated.channel import ChannelSample, ChannelStatus
from drivers.errors import InstrumentCommandError, InstrumentReplyError
from drivers.maccor_macnet import STAT_NAMES, MaccorMacNet
from drivers.maccor_procedure import program_steps
from drivers.stream import ByteStream
from drivers.transport import InstrumentConnectionLost

logger = logging.getLogger(__name__)

_HEADER = struct.Struct("<HHHH")
FILE_ACTIVE, FILE_PROCEDURE = 1, 3
OP_RRQ, OP_WRQ, OP_DATA, OP_ACK, OP_ERROR = 1, 2, 3, 4, 5
BLOCK = 500
#: Blocks of a file read before giving up (a runaway transfer), 500 bytes each.
MAX_BLOCKS = 200_000


class MaccorProcedureChannel:
    """Test channel ``channel`` (1-based, as on the tester) of ``system`` running sent procedures;
    ``binary``: a stream to the tester's binary MacNet port (57560) for the file transfers."""

    step_format = "maccor_procedure"

    def __init__(self, system: MaccorMacNet, channel: int, binary: ByteStream, *, name: str = "cycler") -> None:
        system.check_channel(channel)
        self.name = name
        self.system, self.channel, self.binary = system, channel, binary
        self.procedure = ""
        self.test_id = ""
        self._stopped = False
        #: Maccor step number -> program step index (the procedure's StepNotes, drivers/maccor_procedure.py).
        self._steps: dict[int, int] = {}

    @property
    def where(self) -> str:
        """The system and channel, for messages."""
        return self.system.where_channel(self.channel)

    def verify_identity(self) -> str:
        """``Maccor MacTest32 3.2.18, SYSTEM, channel 4 of 12 (procedures)``."""
        return (f"Maccor {self.system.version()}, {self.system.system_id}, channel {self.channel} of "
                f"{self.system.channel_count} (procedures)")

    def close(self) -> None:
        """Close both connections."""
        self.binary.close()
        self.system.close()

    # -- DelegatedChannel -------------------------------------------------------------------------------
    def download(self, step_file: bytes, name: str) -> None:
        """(1, 6) the procedure as ``name.000``, then (1, 3) to see the tester has it."""
        self.procedure = name[:-4] if name.lower().endswith(".000") else name
        self._steps = program_steps(step_file)
        self.send_file(FILE_PROCEDURE, f"{self.procedure}.000", step_file)
        exists = self.system.request(1, 3, {"ProcName": self.procedure}).get("ProcedurExists")
        if str(exists).upper() != "TRUE":
            raise InstrumentCommandError(f"{self.where}: procedure {self.procedure} sent but the tester does not list it")

    def start(self, test_id: str) -> None:
        """(6, 11) check, then (6, 2) start ``test_id`` with the procedure; the tester's reason on refusal."""
        params = {"TestName": test_id, "ProcName": self.procedure, "Comment": "CellBench", "Crate": 1,
                  "ChamberNum": 0}
        check = self.system.request(6, 11, params, channel=self.channel).get("Result")
        if check != "OK":
            detail = ""
            if str(check).startswith("Compile error"):
                detail = ": " + str(self.system.request(6, 12, {}, channel=self.channel).get("ErrorMessage", ""))
            raise InstrumentCommandError(f"{self.where}: procedure {self.procedure} cannot start: {check}{detail}")
        self.system.command(6, 2, {**params, "StartCycle": 0, "TotCycles": 0, "Mass": 1, "VGain": 0,
                                   "AbsTRepAlign": 0, "ParallelR": 0, "VDivHiR": 0, "VDivLoR": 0, "CANpos": -1,
                                   "CANprof": "", "RegimeName": ""}, channel=self.channel)
        self.test_id, self._stopped = test_id, False

    def stop(self) -> None:
        """(6, 5) reset: the test ends, the output is off."""
        self.system.command(6, 5, {}, channel=self.channel)
        self._stopped = True

    def status(self) -> ChannelStatus:
        """(4, 7) and (4, 6) as a state: running / paused / finished / alarm / stopped / idle."""
        s = self.system.request(4, 7, {}, channel=self.channel)
        names = self.system.request(4, 6, {}, channel=self.channel)
        stat, rf2 = int(s.get("Stat", -1)), int(s.get("RF2", 0))
        state = {2: "running", 4: "finished", 5: "alarm"}.get(stat, "idle")
        if stat == 3:
            state = "alarm" if rf2 in (253, 254) else "paused"
        if stat == 0 and self._stopped:
            state = "stopped"
        detail = f"{STAT_NAMES.get(stat, stat)}" + (f": RF2 {rf2}" if rf2 else "")
        self.procedure = self.procedure or str(names.get("ProcName", "")).strip()
        return ChannelStatus(state, str(names.get("TestName", "")).strip(), self.program_step(int(s.get("Step", 0))),
                             int(s.get("Cycle", 0)), detail)

    def latest(self) -> ChannelSample:
        """(4, 7) readings (current signed by RF1: 2 = discharge) and (4, 4) aux 1 as the temperature."""
        s = self.system.request(4, 7, {}, channel=self.channel)
        try:
            current = abs(float(s["Current"])) * (-1.0 if int(s.get("RF1", 0)) == 2 else 1.0)
            voltage, test_time = float(s["Voltage"]), float(s["TestTime"])
        except (KeyError, TypeError, ValueError):
            raise InstrumentReplyError(f"{self.where}: (4, 7) readings unreadable: {s!r}") from None
        aux = self.system.request(4, 4, {}, channel=self.channel).get("AuxValues") or [math.nan]
        return ChannelSample(test_time, voltage, current, float(aux[0]), self.program_step(int(s.get("Step", 0))),
                             int(s.get("Cycle", 0)), float(s.get("Capacity", 0.0)))

    def records_since(self, test_time_s: float) -> list[ChannelSample]:
        """The test's records after ``test_time_s`` from its Active data file ((1, 7))."""
        test = self.test_id or self.status().test_id
        data = self.get_file(FILE_ACTIVE, f"{test}.{self.channel:03d}")
        out = []
        try:
            for row in csv.DictReader(io.StringIO(data.decode("ascii", "replace")), delimiter="\t"):
                t = float(row["TestTime"])
                if t > test_time_s:
                    out.append(ChannelSample(t, float(row["Volts"]), float(row["Amps"]), float(row["Temp 1"]),
                                             self.program_step(int(row["Step"])), int(row["Cyc#"]),
                                             float(row["Amp-hr"])))
        except (KeyError, ValueError) as exc:
            raise InstrumentReplyError(f"{self.where}: data file of {test} unreadable ({exc})") from None
        return out

    def program_step(self, maccor_step: int) -> int:
        """The program step index a Maccor step number runs (-1: a step the writer added, or unknown).
        After a restart of the bench the procedure is read back from the tester ((1, 7), its name from
        (4, 6)) to rebuild the map."""
        if not self._steps and self.procedure:
            try:
                self._steps = program_steps(self.get_file(FILE_PROCEDURE, f"{self.procedure}.000"))
            except (InstrumentCommandError, ValueError) as exc:
                logger.warning("%s: procedure %s not readable from the tester: %s", self.where, self.procedure, exc)
        return self._steps.get(maccor_step, -1)

    # -- binary file transfers ((1, 6), (1, 7)) --------------------------------------------------------
    def send_file(self, file_type: int, name: str, data: bytes) -> None:
        """(1, 6): WRQ, then 500-byte DATA blocks, each acknowledged."""
        raw = name.encode("ascii")
        self._expect_ack(self._exchange(6, struct.pack("<BBH", file_type, OP_WRQ, len(raw)) + raw), 0, name)
        blocks = [data[k:k + BLOCK] for k in range(0, len(data) + 1, BLOCK)]  # a last block < 500 (maybe empty)
        for number, block in enumerate(blocks, 1):
            self._expect_ack(self._exchange(6, struct.pack("<BBH", file_type, OP_DATA, number) + block), number, name)

    def get_file(self, file_type: int, name: str) -> bytes:
        """(1, 7): RRQ, then DATA blocks acknowledged until one is shorter than 500 bytes."""
        raw = name.encode("ascii")
        reply = self._exchange(7, struct.pack("<BBH", file_type, OP_RRQ, len(raw)) + raw)
        out = bytearray()
        for expected in range(1, MAX_BLOCKS):
            _type, opcode, number = struct.unpack_from("<BBH", reply)
            if opcode == OP_ERROR:
                raise InstrumentCommandError(f"{self.where}: (1, 7) {name}: {_error_text(reply)}")
            if opcode != OP_DATA or number != expected:
                raise InstrumentReplyError(f"{self.where}: (1, 7) {name}: block {number} (op {opcode}), "
                                           f"expected data block {expected}")
            out += reply[4:]
            if len(reply) - 4 < BLOCK:
                return bytes(out)
            reply = self._exchange(7, struct.pack("<BBH", file_type, OP_ACK, number))
        raise InstrumentReplyError(f"{self.where}: (1, 7) {name}: more than {MAX_BLOCKS} blocks")

    def _expect_ack(self, reply: bytes, block: int, name: str) -> None:
        _type, opcode, number = struct.unpack_from("<BBH", reply)
        if opcode == OP_ERROR:
            raise InstrumentCommandError(f"{self.where}: (1, 6) {name} refused: {_error_text(reply)}")
        if opcode != OP_ACK or number != block:
            raise InstrumentReplyError(f"{self.where}: (1, 6) {name}: got op {opcode} block {number}, "
                                       f"expected the ACK of block {block}")

    def _exchange(self, fnum: int, data: bytes) -> bytes:
        """One binary message (1, fnum) and its reply's data."""
        try:
            self.binary.send(_HEADER.pack(1, fnum, 0, len(data)) + data)
            fclass, rnum, _chan, length = _HEADER.unpack(self.binary.recv_exact(_HEADER.size))
            reply = self.binary.recv_exact(length)
        except (TimeoutError, OSError) as exc:
            raise InstrumentConnectionLost(f"{self.where}: MacNet binary (1, {fnum}): {exc}") from exc
        if (fclass, rnum) != (1, fnum) or len(reply) < 4:
            raise InstrumentReplyError(f"{self.where}: MacNet binary (1, {fnum}): reply ({fclass}, {rnum}), "
                                       f"{len(reply)} bytes")
        return reply


def _error_text(reply: bytes) -> str:
    code = struct.unpack_from("<H", reply, 2)[0]
    text = reply[4:].split(b"\0", 1)[0].decode("ascii", "replace")
    return f"{text} (error {code})"


def open_maccor_procedure_channel(resource: str, *, name: str = "cycler", timeout_s: float = 5.0, channel: int = 1,
                                  binary_resource: str = "") -> MaccorProcedureChannel:
    """Connect to the JSON port ``resource`` (57570) and the binary port ``binary_resource`` (default:
    the same host, port 57560) and bind test ``channel``; InstrumentError naming ``name`` when either
    cannot be reached."""
    from drivers.errors import InstrumentError
    from drivers.stream import TcpStream, parse_tcp_resource

    try:
        host, _port = parse_tcp_resource(resource)
        binary_at = binary_resource or f"TCPIP::{host}::57560::SOCKET"
        system = MaccorMacNet(TcpStream(resource, timeout_s=timeout_s), name=name)
    except (ValueError, OSError) as exc:
        raise InstrumentError(f"{name}: {resource}: {exc}") from None
    try:
        binary = TcpStream(binary_at, timeout_s=timeout_s)
    except (ValueError, OSError) as exc:
        system.close()
        raise InstrumentError(f"{name}: binary port {binary_at}: {exc}") from None
    return MaccorProcedureChannel(system, int(channel), binary, name=name)
