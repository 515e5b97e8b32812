"""Wire front end of the simulated Arbin CTI server: framing, byte layouts, sessions, and how to
reach it (:func:`serve_arbin` on loopback TCP, :func:`arbin_stream` in process).

Framing ("Overall Command Data Format", ArbinCTI_Protocol v1.1): u64 token ``0x11DDDDDDDDDDDDDD``,
u32 ``dwLen``, u32 command, u32 extension (0), arguments, u16 checksum (sum of every byte before
it). ``dwLen`` counts command + arguments + checksum in a request and the whole message in a
feedback. Strings declared ``char`` are 2-byte wide (UTF-16-LE); ``Byte`` arrays are 1 byte per
character. A request with a wrong checksum is dropped (logged, no feedback); a wrong token means
the stream is lost and the connection is closed. Commands other than login are ignored until a
login succeeds on that connection.

File commands ("Arbin CTI Instructions v4.5", "Detailed Command Data format"; MITS Pro serves them
on port 9032, :func:`serve_arbin` starts a second server for them): UPLOAD_FILE ``0xCC130003``
(``FilePath`` wchar[1024], ``dwFileLength`` u64 (bytes in this package), ``uGeneralPackage`` u32,
``uPackageIndex`` u32, ``UploadTime`` f64, ``m_MD5`` [16] of the whole file, the bytes), answered
``0xCC310003`` (Result u32: 1 success, 2 failed, 3 MD5 error, 4 in use; ``UploadTime``, packages, index)
for every package; DOWNLOAD_FILE ``0xCC130002`` (``FilePath``, ``DownloadTime`` f64), answered by
``0xCC310002`` packages (Result, ``DownloadTime``, packages, index from 0, MD5, length, bytes).
"""

from __future__ import annotations

import hashlib
import logging
import struct
import threading
from dataclasses import dataclass

from sim_instruments.cyclers.arbin_cti import FILE_FAILED, FILE_MD5_ERROR, FILE_OK, ArbinSystemSim
from sim_instruments.wire.stream_server import LinkState, SimByteStream, StreamServer
from sim_instruments.wire.tcp_server import LOOPBACK

logger = logging.getLogger(__name__)

TOKEN = 0x11DDDDDDDDDDDDDD
LOGIN, CONNECT, CHANNEL_INFO = 0xEEAB0001, 0xEEAB0002, 0xEEAB0003
ASSIGN, START, STOP, SET_MV, MV_ADVANCED = 0xBB210001, 0xBB320004, 0xBB310001, 0xBB150001, 0xBB150002
DOWNLOAD, UPLOAD = 0xCC130002, 0xCC130003
FEEDBACK = {LOGIN: 0xEEBA0001, CONNECT: 0xEEBA0002, CHANNEL_INFO: 0xEEBA0003, ASSIGN: 0xBB120001,
            START: 0xBB230004, STOP: 0xBB130001, SET_MV: 0xBB510001, MV_ADVANCED: 0xBB510002,
            DOWNLOAD: 0xCC310002, UPLOAD: 0xCC310003}
#: Bytes of file per DOWNLOAD feedback package.
PACKAGE_BYTES = 32768
_UPLOAD_HEAD = struct.Struct("<2048sQIId16s")
MAX_REQUEST_BYTES = 1 << 16


def _wide(text: str, chars: int) -> bytes:
    return text.encode("utf-16-le")[: 2 * chars].ljust(2 * chars, b"\0")


def _text(data: bytes, wide: bool) -> str:
    return (data.decode("utf-16-le", "replace") if wide else data.decode("latin-1")).split("\0", 1)[0]


def feedback(command: int, args: bytes) -> bytes:
    """A feedback message: ``dwLen`` is the whole length including the checksum."""
    body = struct.pack("<QIII", TOKEN, 20 + len(args) + 2, FEEDBACK[command], 0) + args
    return body + struct.pack("<H", sum(body) & 0xFFFF)


def _result(index: int, result: int) -> bytes:
    """The (channel index, result byte, 101 reserved) feedback arguments."""
    return struct.pack("<iB", index, result) + bytes(101)


class CtiSession:
    """One CTI connection to an :class:`ArbinSystemSim`."""

    def __init__(self, system: ArbinSystemSim) -> None:
        self.system = system
        self.logged_in = False
        self._buffer = bytearray()
        self._uploads: dict[tuple[str, float], dict[int, bytes]] = {}

    def feed(self, data: bytes) -> bytes:
        """Consume ``data``; the feedbacks of every complete request (ValueError: stream lost)."""
        self._buffer += data
        out = bytearray()
        while len(self._buffer) >= 12:
            token, length = struct.unpack_from("<QI", self._buffer)
            if token != TOKEN or not 10 <= length <= MAX_REQUEST_BYTES:
                raise ValueError(f"not a CTI request (token 0x{token:X}, length {length})")
            total = 12 + length
            if len(self._buffer) < total:
                break
            message = bytes(self._buffer[:total])
            del self._buffer[:total]
            if sum(message[:-2]) & 0xFFFF != struct.unpack("<H", message[-2:])[0]:
                logger.warning("simulated Arbin: checksum mismatch, request dropped")
                continue
            command = struct.unpack_from("<I", message, 12)[0]
            out += self.handle(command, message[20:-2])
        return bytes(out)

    def handle(self, command: int, args: bytes) -> bytes:
        """One request's feedback (b"" when there is none)."""
        if command == LOGIN:
            return self._login(args)
        if not self.logged_in:
            logger.warning("simulated Arbin: command 0x%08X before login ignored", command)
            return b""
        system = self.system
        now = system.sync()
        try:
            if command == CONNECT:
                (kick,) = struct.unpack_from("<I", args)
                return feedback(command, struct.pack("<II", kick, 0) + bytes(32))
            if command == CHANNEL_INFO:
                return self._channel_info(args)
            if command == ASSIGN:
                index = struct.unpack_from("<i", args)[0]
                schedule = _text(args[5:405], wide=True)
                mvs = list(struct.unpack_from("<16f", args, 553))
                return feedback(command, _result(index, system.assign(index, schedule, mvs)))
            if command == START:
                name = _text(args[:144], wide=True)
                (count,) = struct.unpack_from("<I", args, 144)
                indices = struct.unpack_from(f"<{count}H", args, 148) if count else ()
                if not indices:
                    return feedback(command, _result(-1, 0x20))
                for index in indices:
                    code = system.start(index, name, now)
                    if code:
                        return feedback(command, _result(index, code))
                return feedback(command, _result(-1, 0))
            if command == STOP:
                index, every = struct.unpack_from("<IB", args)
                stopped = range(len(system.channels)) if every else [index]
                codes = [system.stop(i) for i in stopped]
                return feedback(command, _result(index, max(codes)))
            if command == SET_MV:
                index, mv_type, code = struct.unpack_from("<Iii", args)
                value_type, value = struct.unpack_from("<if", args, 28)
                if mv_type != 1 or value_type != 1:
                    return feedback(command, _result(index, 0x10))
                return feedback(command, _result(*system.set_mvs([(index, code, value)], now, advanced=False)))
            if command == UPLOAD:
                return self._upload(args)
            if command == DOWNLOAD:
                return self._download(args)
            if command == MV_ADVANCED:
                (total,) = struct.unpack_from("<H", args)
                values = [struct.unpack_from("<HHf", args, 20 + 8 * k) for k in range(total)]
                return feedback(command, _result(*system.set_mvs(values, now, advanced=True)))
        except struct.error:
            logger.warning("simulated Arbin: request 0x%08X too short (%d bytes of arguments)", command, len(args))
            return b""
        logger.warning("simulated Arbin: unknown command 0x%08X ignored", command)
        return b""

    def _upload(self, args: bytes) -> bytes:
        raw_path, length, packages, index, stamp, md5 = _UPLOAD_HEAD.unpack_from(args)
        path = _text(raw_path, wide=True)
        data = args[_UPLOAD_HEAD.size:_UPLOAD_HEAD.size + length]
        parts = self._uploads.setdefault((path, stamp), {})
        parts[index] = data
        result = FILE_OK if len(data) == length and packages >= 1 else FILE_FAILED
        if result == FILE_OK and len(parts) >= packages:
            del self._uploads[(path, stamp)]
            whole = b"".join(parts[k] for k in sorted(parts))
            result = FILE_MD5_ERROR if hashlib.md5(whole).digest() != md5 else self.system.upload(path, whole)
        elif result != FILE_OK:
            self._uploads.pop((path, stamp), None)
        return feedback(UPLOAD, struct.pack("<IdII", result, stamp, packages, index))

    def _download(self, args: bytes) -> bytes:
        path = _text(args[:2048], wide=True)
        (stamp,) = struct.unpack_from("<d", args, 2048)
        data = self.system.download(path)
        if data is None:
            return feedback(DOWNLOAD, struct.pack("<IdII16sQ", FILE_FAILED, stamp, 0, 0, bytes(16), 0))
        md5 = hashlib.md5(data).digest()
        chunks = [data[k:k + PACKAGE_BYTES] for k in range(0, len(data), PACKAGE_BYTES)] or [b""]
        return b"".join(feedback(DOWNLOAD, struct.pack("<IdII16sQ", FILE_OK, stamp, len(chunks), n, md5, len(chunk))
                                 + chunk) for n, chunk in enumerate(chunks))

    def _login(self, args: bytes) -> bytes:
        user = _text(args[:32], wide=False)
        password = _text(args[32:64], wide=False)
        system = self.system
        if self.logged_in:
            result = 3
        elif system.users.get(user) == password and user:
            result = 1
            self.logged_in = True
        else:
            result = 2
        body = (struct.pack("<I", result) + bytes([127, 0, 0, 1]) + system.serial.encode("ascii")[:16].ljust(16, b"\0")
                + b"CellBench simulated Arbin".ljust(256, b"\0") + _wide("sim", 1024) + _wide("loopback", 1024)
                + _wide("", 1024) + _wide("", 1024) + _wide("", 64) + _wide("", 16)
                + struct.pack("<IIIIII", 0, 8, 1, len(system.channels), 1, 0))
        return feedback(LOGIN, body)

    def _channel_info(self, args: bytes) -> bytes:
        only, _info_type, _need = struct.unpack_from("<hhI", args)
        system = self.system
        indices = range(len(system.channels)) if only == -1 else [only]
        out = bytearray()
        for index in indices:
            if not system.valid(index):
                logger.warning("simulated Arbin: channel info for index %d: no such channel", index)
                continue
            out += feedback(CHANNEL_INFO, struct.pack("<I", 1) + self._record(index))
        return bytes(out)

    def _record(self, index: int) -> bytes:
        system = self.system
        state = system.channels[index]
        voltage, current = system.readings(index)
        now = system.world.clock.now_s()
        test_time = now - state.test_start_s if state.running else 0.0
        step_time = now - state.step_start_s if state.running else 0.0
        readings = (voltage, current, voltage * current, state.charge_ah, state.discharge_ah, 0.0, 0.0, 0.0, 0.0,
                    0.0, 0.0, 0.0)
        return (struct.pack("<IhB", index, state.status, 0) + _wide(state.schedule, 200) + _wide(state.test_name, 72)
                + state.exit_condition.encode("ascii", "replace")[:100].ljust(100, b"\0") + self._step_cycle(state)
                + _wide("", 72)
                + _wide("", 200) + _wide("", 200) + struct.pack("<Hdd12f14H", index, test_time, step_time, *readings,
                                                                 *([0] * 14)))


    @staticmethod
    def _step_cycle(state: object) -> bytes:
        """``StepAndCycleformat``: "[cycle] step" of a schedule file the channel runs (1-based)."""
        machine = getattr(state, "machine", None)
        text = f"[{machine.cycle_index}] {machine.step_index + 1}" if machine is not None else ""
        return text.encode("ascii")[:64].ljust(64, b"\0")


@dataclass
class ArbinServer:
    """A simulated Arbin system on loopback TCP."""

    system: ArbinSystemSim
    server: StreamServer
    link: LinkState
    host: str = LOOPBACK
    file_server: StreamServer | None = None

    @property
    def resource(self) -> str:
        """``TCPIP::127.0.0.1::PORT::SOCKET``."""
        return f"TCPIP::{self.host}::{self.server.port}::SOCKET"

    @property
    def file_resource(self) -> str:
        """The file-command port (MITS Pro's 9032), ``TCPIP::127.0.0.1::PORT::SOCKET``."""
        server = self.file_server or self.server
        return f"TCPIP::{self.host}::{server.port}::SOCKET"

    def stop(self) -> None:
        self.server.stop()
        if self.file_server is not None:
            self.file_server.stop()


def serve_arbin(system: ArbinSystemSim, *, host: str = LOOPBACK, port: int = 0,
                lock: threading.Lock | threading.RLock | None = None) -> ArbinServer:
    """Start the CTI server of ``system`` (a free port by default)."""
    link = LinkState()
    server = StreamServer(lambda: CtiSession(system), name="arbin-cti", host=host, port=port, link=link,
                          lock=lock or system.world.lock).start()
    try:
        files = StreamServer(lambda: CtiSession(system), name="arbin-cti-files", host=host, port=0, link=link,
                             lock=lock or system.world.lock).start()
    except BaseException:
        server.stop()
        raise
    return ArbinServer(system, server, link, host, files)


def arbin_stream(system: ArbinSystemSim, resource: str = "TCPIP::arbin-sim::9031::SOCKET", *,
                 link: LinkState | None = None) -> SimByteStream:
    """An in-process CTI stream to ``system`` (what ``drivers.arbin_cti`` can be handed)."""
    return SimByteStream(lambda: CtiSession(system), resource, link=link, lock=system.world.lock)
