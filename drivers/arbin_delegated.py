"""An Arbin channel running a schedule file on its own (delegated execution) through CTI.

Facts from Arbin's CTI guide "Arbin CTI Instructions v4.5" (public copy in the pyctiarbin repository,
docs/Arbin CTI Instructions v4.5.pdf), sections "Command Set", "Detailed Command Data format" and
"File Operation Commands":

* UPLOAD_FILE ``0xCC130003`` puts a file on the MITS Pro PC (``FilePath`` wchar[1024],
  ``dwFileLength`` u64, ``uGeneralPackage`` / ``uPackageIndex`` u32, ``UploadTime`` f64 (a unique
  stamp), ``m_MD5`` [16], the bytes; feedback ``0xCC310003``: Result 1 success, 2 failed, 3 MD5
  error, 4 in use ("ArbinCommandUpLoadFileFeed")). DOWNLOAD_FILE ``0xCC130002`` gets one back in
  packages (feedback ``0xCC310002``: Result, stamp, packages, index, MD5, length, bytes). "Use port
  9032 for commands like Browse Directory, Upload, Download" ("Connecting"): the file commands go
  over a second connection (``file_stream``), logged in like the first.
* ASSIGN_SCHEDULE by file name, START_SCHEDULE with a test name, STOP_SCHEDULE, GET_CHANNELS_INFO
  (status, test name, exit condition, test time, voltage, current; ``StepAndCycleformat`` "[cycle]
  step") as in :mod:`drivers.arbin_cti`.

The schedule is written by :mod:`drivers.arbin_schedule` and uploaded into ``work_dir`` (MITS Pro's
``Work`` folder, where the public example schedule says it lived). Stored records: CTI has no
command that reads a test's data points; :meth:`ArbinScheduleChannel.records_since` downloads
``<data_dir>\\<test>.csv`` (Arbin's export columns ``Test_Time(s)``, ``Step_Index``,
``Cycle_Index``, ``Current(A)``, ``Voltage(V)`` ...). The simulated MITS Pro keeps that file; a real
MITS Pro keeps the test in its results database, so on a real bench that CSV must be exported
there by the lab (not verified against a real system). Units: V, A, s, Ah, °C.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import math
import struct
import time
from typing import Any

from drivers.arbin_cti import (
    _HEADER,
    _INFO,
    ASSIGN,
    ASSIGN_ERRORS,
    CHANNEL_INFO,
    FEEDBACK,
    START,
    START_ERRORS,
    STATUS_NAMES,
    STOP,
    STOP_ERRORS,
    TOKEN,
    ArbinCti,
    unwide,
    wide,
)
from drivers.delegated.channel import ChannelSample, ChannelStatus
from drivers.errors import InstrumentCommandError, InstrumentReplyError
from drivers.stream import ByteStream

logger = logging.getLogger(__name__)

DOWNLOAD, UPLOAD = 0xCC130002, 0xCC130003
FILE_RESULTS = {1: "success", 2: "failed", 3: "MD5 error", 4: "file in use by a running test"}
#: File bytes per UPLOAD package.
PACKAGE_BYTES = 16384
WORK_DIR = "C:\\ArbinSoftware\\MITS_PRO\\Work"
DATA_DIR = "C:\\ArbinSoftware\\MITS_PRO\\Data"
RUNNING = {2, 3, 4, 9, 10, 11, 12, 16, 21, 22, 23, 24, 27}  # Charge ... Go Next Step
PAUSED = {5, 18, 25}
FINISHED = {15}
IDLE = {0, 19, 20}
UNSAFE = {8, 14, 29}


class ArbinScheduleChannel:
    """Channel ``channel`` (1-based, as MITS Pro shows it) of ``system`` running uploaded schedules.

    ``files``: a second :class:`ArbinCti` logged in on the file port (9032) for UPLOAD / DOWNLOAD.
    """

    step_format = "arbin_schedule"

    def __init__(self, system: ArbinCti, channel: int, files: ArbinCti, *, name: str = "cycler",
                 work_dir: str = WORK_DIR, data_dir: str = DATA_DIR) -> None:
        system.check_channel(channel)
        self.name = name
        self.system, self.files, self.channel, self.index = system, files, channel, channel - 1
        self.work_dir, self.data_dir = work_dir, data_dir
        self.schedule = ""
        self.test_id = ""

    @property
    def where(self) -> str:
        """The system and channel, for messages."""
        return self.system.where_channel(self.channel)

    def verify_identity(self) -> str:
        """``Arbin MITS Pro (CTI version N), SN ..., channel 3 of 16 (schedules)``."""
        return (f"Arbin MITS Pro (CTI version {self.system.version}), SN {self.system.serial}, channel {self.channel} "
                f"of {self.system.channel_count} (schedules)")

    def close(self) -> None:
        """Close both connections."""
        self.files.close()
        self.system.close()

    # -- DelegatedChannel -------------------------------------------------------------------------------
    def download(self, step_file: bytes, name: str) -> None:
        """UPLOAD the schedule into ``work_dir`` as ``name`` (.sdu added), then ASSIGN it to the channel."""
        self.schedule = name if name.lower().endswith(".sdu") else f"{name}.sdu"
        self.upload(f"{self.work_dir}\\{self.schedule}", step_file)
        args = (struct.pack("<iB", self.index, 0) + wide(self.schedule, 200) + struct.pack("<f", 0.0)
                + wide("", 72) + struct.pack("<16f", *([0.0] * 16)) + bytes(32))
        self.system.result(ASSIGN, args, self.channel, ASSIGN_ERRORS)

    def start(self, test_id: str) -> None:
        """START_SCHEDULE under the test name ``test_id`` (InstrumentCommandError with the reason)."""
        self.system.result(START, wide(test_id, 72) + struct.pack("<IH", 1, self.index), self.channel, START_ERRORS)
        self.test_id = test_id

    def stop(self) -> None:
        """STOP_SCHEDULE (the caller confirms with :meth:`status`)."""
        self.system.result(STOP, struct.pack("<IB", self.index, 0) + bytes(101), self.channel, STOP_ERRORS)

    def status(self) -> ChannelStatus:
        """GET_CHANNELS_INFO as a state: running / paused / finished / alarm / idle."""
        info = self._info()
        code = info["status"]
        state = ("running" if code in RUNNING else "paused" if code in PAUSED else "finished" if code in FINISHED
                 else "alarm" if code in UNSAFE else "idle")
        name = STATUS_NAMES[code] if 0 <= code < len(STATUS_NAMES) else f"status {code}"
        detail = f"{name}: {info['exit_condition']}" if info["exit_condition"] else name
        return ChannelStatus(state, info["test_name"], info["step"], info["cycle"], detail)

    def latest(self) -> ChannelSample:
        """The channel's present reading (no temperature: aux channels are not mapped here)."""
        info = self._info()
        return ChannelSample(info["test_time_s"], info["voltage_v"], info["current_a"], math.nan,
                             max(info["step"], 0), max(info["cycle"], 0))

    def records_since(self, test_time_s: float) -> list[ChannelSample]:
        """The test's stored records after ``test_time_s`` from ``<data_dir>\\<test>.csv``."""
        if not self.test_id:
            self.test_id = self._info()["test_name"]
        data = self.download_file(f"{self.data_dir}\\{self.test_id}.csv")
        out = []
        try:
            for row in csv.DictReader(io.StringIO(data.decode("utf-8", "replace"))):
                t = float(row["Test_Time(s)"])
                if t > test_time_s:
                    charge, discharge = float(row["Charge_Capacity(Ah)"]), float(row["Discharge_Capacity(Ah)"])
                    temperature = float(row.get("Aux_Temperature_1(C)") or "nan")
                    out.append(ChannelSample(t, float(row["Voltage(V)"]), float(row["Current(A)"]), temperature,
                                             int(row["Step_Index"]) - 1, int(row["Cycle_Index"]), charge + discharge))
        except (KeyError, ValueError) as exc:
            raise InstrumentReplyError(f"{self.where}: test data file unreadable ({exc})") from None
        return out

    # -- file commands ----------------------------------------------------------------------------------
    def upload(self, path: str, data: bytes) -> None:
        """UPLOAD_FILE in packages of :data:`PACKAGE_BYTES`; InstrumentCommandError unless every one succeeds."""
        md5 = hashlib.md5(data).digest()
        stamp = time.time()
        chunks = [data[k:k + PACKAGE_BYTES] for k in range(0, len(data), PACKAGE_BYTES)] or [b""]
        for n, chunk in enumerate(chunks):
            args = (wide(path, 1024) + struct.pack("<QIId16s", len(chunk), len(chunks), n, stamp, md5) + chunk)
            reply = self.files.request(UPLOAD, args, self.channel)
            (result,) = struct.unpack_from("<I", reply)
            if result != 1:
                raise InstrumentCommandError(f"{self.where}: upload of {path} refused: "
                                             f"{FILE_RESULTS.get(result, result)} (result {result})")

    def download_file(self, path: str) -> bytes:
        """DOWNLOAD_FILE: every package, joined in index order and checked against the MD5."""
        stamp = time.time()
        reply = self.files.request(DOWNLOAD, wide(path, 1024) + struct.pack("<d", stamp), self.channel)
        parts: dict[int, bytes] = {}
        while True:
            result, _stamp, packages, index, md5, length = struct.unpack_from("<IdII16sQ", reply)
            if result != 1:
                raise InstrumentCommandError(f"{self.where}: download of {path} refused: "
                                             f"{FILE_RESULTS.get(result, result)} (result {result})")
            parts[index] = reply[44:44 + length]
            if len(parts) >= packages:
                break
            reply = self.files.exchange(self.channel, "CTI download", lambda s: _feedback(s, DOWNLOAD))
        data = b"".join(parts[k] for k in sorted(parts))
        if hashlib.md5(data).digest() != md5:
            raise InstrumentReplyError(f"{self.where}: download of {path}: MD5 mismatch")
        return data

    def _info(self) -> dict[str, Any]:
        args = struct.pack("<hhI", self.index, 1, 0) + bytes(32)
        reply = self.system.request(CHANNEL_INFO, args, self.channel)
        if struct.unpack_from("<I", reply)[0] < 1 or len(reply) < 4 + _INFO.size:
            raise InstrumentReplyError(f"{self.where}: channel info feedback holds no channel")
        f = _INFO.unpack_from(reply, 4)
        step, cycle = -1, -1
        text = f[6].split(b"\0", 1)[0].decode("ascii", "replace")
        if text.startswith("[") and "]" in text:
            try:
                cycle, step = int(text[1:text.index("]")]), int(text[text.index("]") + 1:]) - 1
            except ValueError:
                pass
        return {"status": f[1], "test_name": unwide(f[4]), "exit_condition": f[5].split(b"\0", 1)[0].decode(
            "ascii", "replace"), "test_time_s": f[11], "voltage_v": f[13], "current_a": f[14], "step": step,
                "cycle": cycle}


def _feedback(stream: ByteStream, command: int) -> bytes:
    """The next feedback of ``command`` on ``stream`` (a later DOWNLOAD package), checked like any other."""
    head = stream.recv_exact(_HEADER.size)
    token, length, code, _ext = _HEADER.unpack(head)
    if token != TOKEN or code != FEEDBACK[command]:
        raise InstrumentReplyError(f"CTI: expected feedback 0x{FEEDBACK[command]:08X}, got 0x{code:08X}")
    rest = stream.recv_exact(length - _HEADER.size)
    if (sum(head) + sum(rest[:-2])) & 0xFFFF != struct.unpack("<H", rest[-2:])[0]:
        raise InstrumentReplyError("CTI: feedback checksum mismatch")
    return rest[:-2]


def open_arbin_schedule_channel(resource: str, *, name: str = "cycler", timeout_s: float = 10.0, channel: int = 1,
                                username: str | None = None, password: str | None = None,
                                file_resource: str = "", work_dir: str = WORK_DIR,
                                data_dir: str = DATA_DIR) -> ArbinScheduleChannel:
    """Log in on ``resource`` (CTI, port 9031) and on ``file_resource`` (default: the same host,
    port 9032) and bind ``channel``; InstrumentError naming ``name`` when either cannot be reached."""
    from drivers.errors import InstrumentError
    from drivers.stream import TcpStream, parse_tcp_resource

    try:
        host, _port = parse_tcp_resource(resource)
        files_at = file_resource or f"TCPIP::{host}::9032::SOCKET"
        system = ArbinCti(TcpStream(resource, timeout_s=timeout_s), name=name, username=username, password=password)
    except (ValueError, OSError) as exc:
        raise InstrumentError(f"{name}: {resource}: {exc}") from None
    try:
        files = ArbinCti(TcpStream(files_at, timeout_s=timeout_s), name=f"{name} files", username=username,
                         password=password)
    except (ValueError, OSError) as exc:
        system.close()
        raise InstrumentError(f"{name}: file port {files_at}: {exc}") from None
    return ArbinScheduleChannel(system, int(channel), files, name=name, work_dir=work_dir, data_dir=data_dir)
