"""Wire front ends of the simulated Maccor tester: MacNet JSON sessions and binary sessions, and the
servers (:func:`serve_maccor`) / in-process streams (:func:`maccor_stream`) that reach them.

JSON framing: requests are JSON objects on the stream with no separator (whitespace between them
is skipped); each reply is compact JSON followed by CR LF. Binary framing ("MacNet Functions"):
``FClass, FNum, Chan, Len`` little-endian words then data; in a request ``Len`` counts the data
bytes for functions that carry data ((6, 8): 18 bytes) and channels for multi-channel reads
((4, 2), (4, 3)); in a reply it counts the data bytes. See :mod:`sim_instruments.cyclers.maccor_macnet`.
"""

from __future__ import annotations

import json
import logging
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sim_instruments.cyclers.maccor_macnet import DIRECT_RESULTS, MaccorSystemSim
from sim_instruments.cyclers.maccor_procedures import CHECK_RESULTS, FileTransfer
from sim_instruments.wire.stream_server import LinkState, SimByteStream, StreamServer
from sim_instruments.wire.tcp_server import LOOPBACK

logger = logging.getLogger(__name__)

#: JSON-RPC 2.0 error codes.
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602
#: Largest JSON request accepted before the stream is declared garbage, bytes.
MAX_REQUEST_BYTES = 1 << 16


class MacNetError(Exception):
    """A JSON-RPC error reply: code and the Maccor message text."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _split_object(buffer: bytearray) -> tuple[bytes | None, int]:
    """The first complete top-level JSON object in ``buffer`` and the bytes it spans (None, 0 while
    incomplete). ValueError when the stream does not start with an object."""
    start = 0
    while start < len(buffer) and buffer[start] in b" \t\r\n":
        start += 1
    if start == len(buffer):
        return None, start
    if buffer[start] != ord("{"):
        raise ValueError("not a JSON object")
    depth, in_string, escape = 0, False, False
    for index in range(start, len(buffer)):
        byte = buffer[index]
        if in_string:
            if escape:
                escape = False
            elif byte == 0x5C:  # backslash
                escape = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte == 0x7B:
            depth += 1
        elif byte == 0x7D:
            depth -= 1
            if depth == 0:
                return bytes(buffer[start:index + 1]), index + 1
    return None, 0


class MacNetJsonSession:
    """One JSON connection to a :class:`MaccorSystemSim`."""

    def __init__(self, system: MaccorSystemSim) -> None:
        self.system = system
        self._buffer = bytearray()

    def feed(self, data: bytes) -> bytes:
        """Consume ``data``; the replies of every request it completes."""
        self._buffer += data
        out = bytearray()
        while True:
            try:
                text, used = _split_object(self._buffer)
            except ValueError:
                self._buffer.clear()
                out += self._encode({"jsonrpc": "2.0", "error": {"code": PARSE_ERROR, "message": "Parse error"},
                                     "id": None})
                break
            if text is None:
                if used:
                    del self._buffer[:used]
                if len(self._buffer) > MAX_REQUEST_BYTES:
                    self._buffer.clear()
                    out += self._encode({"jsonrpc": "2.0", "error": {"code": PARSE_ERROR, "message": "Parse error"},
                                         "id": None})
                break
            del self._buffer[:used]
            out += self._encode(self.handle(text))
        return bytes(out)

    @staticmethod
    def _encode(reply: dict[str, Any]) -> bytes:
        return json.dumps(reply, separators=(",", ":")).encode("ascii") + b"\r\n"

    def handle(self, text: bytes) -> dict[str, Any]:
        """One request object -> the reply object."""
        ident = None
        try:
            try:
                request = json.loads(text.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                raise MacNetError(PARSE_ERROR, "Parse error") from None
            ident = request.get("id")
            if request.get("jsonrpc") != "2.0" or request.get("method") != "MacNet" or "id" not in request:
                raise MacNetError(INVALID_REQUEST, "Method MacNet, jsonrpc 2.0 or id not found")
            params = request.get("params")
            if not isinstance(params, dict):
                raise MacNetError(INVALID_PARAMS, "Invalid params")
            result = dispatch(self.system, params)
        except MacNetError as exc:
            return {"jsonrpc": "2.0", "error": {"code": exc.code, "message": exc.message}, "id": ident}
        return {"jsonrpc": "2.0", "result": result, "id": ident}


def _int_key(params: dict[str, Any], key: str) -> int:
    value = params.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise MacNetError(INVALID_PARAMS, f'"{key}" key does not exist or value syntax error')
    return value


def _chan(system: MaccorSystemSim, params: dict[str, Any]) -> int:
    if "Chan" not in params:
        raise MacNetError(INVALID_PARAMS, "Missing object")
    chan = params["Chan"]
    if not isinstance(chan, int) or isinstance(chan, bool) or not 0 <= chan < len(system.channels):
        raise MacNetError(INVALID_PARAMS, "Illegal value")
    return chan


def _span(system: MaccorSystemSim, params: dict[str, Any]) -> range:
    """Channels ``Chan .. Chan + Len - 1`` of a multi-channel read. ``Chan`` -1 (the WORD 65535) reads
    from the first channel: pymacnet's README shows its ``read_all_channel_statuses``, which sends
    ``Chan`` -1, answered by a real tester."""
    if params.get("Chan") in (-1, 65535):
        params = {**params, "Chan": 0}
    chan = _chan(system, params)
    length = params.get("Len", 1)
    if not isinstance(length, int) or not 1 <= length <= 128 or chan + length > len(system.channels):
        raise MacNetError(INVALID_PARAMS, "Illegal value")
    return range(chan, chan + length)


def dispatch(system: MaccorSystemSim, params: dict[str, Any]) -> dict[str, Any]:
    """Execute one MacNet function; the ``result`` object (MacNetError for the error replies)."""
    fclass = _int_key(params, "FClass")
    fnum = _int_key(params, "FNum")
    handler = FUNCTIONS.get((fclass, fnum))
    if handler is None:
        if fclass not in {c for c, _ in FUNCTIONS}:
            raise MacNetError(METHOD_NOT_FOUND, "Invalid FClass")
        raise MacNetError(METHOD_NOT_FOUND, "Invalid FNum")
    now = system.sync()
    try:
        fields = handler(system, params, now)
    except (TypeError, ValueError):
        raise MacNetError(INVALID_PARAMS, "Illegal value") from None
    return {"FClass": fclass, "FNum": fnum, **fields}


def _result(chan: int, text: str) -> dict[str, Any]:
    return {"Chan": chan, "Result": text}


def _version(system: MaccorSystemSim, _p: dict[str, Any], _now: float) -> dict[str, Any]:
    return {"APIVersion": 1, "MacTest32EXEversionMajor": 3, "MacTest32EXEversionMinor": 2,
            "MacTest32EXEversionBuild": 18, "MacTest32DLLversionMajor": 3, "MacTest32DLLversionMinor": 2,
            "MacTest32DLLversionBuild": 18, "MacTest32ExeDT": "2016-11-08T15:02:58",
            "MacTest32DLLDT": "2016-11-13T11:29:48"}


def _general(system: MaccorSystemSim, _p: dict[str, Any], _now: float) -> dict[str, Any]:
    count = len(system.channels)
    return {"SystemID": system.system_id, "SystemType": system.system_type, "ControllerBoards": (count + 7) // 8,
            "TestChannels": count, "AuxBoards": 1, "AuxChannels": count, "SMB1Pos": 0, "SMB3Pos": 0}


def _spec(system: MaccorSystemSim, p: dict[str, Any], _now: float) -> dict[str, Any]:
    return {"Chan": _chan(system, p), **system.channel_spec()}


def _statuses(system: MaccorSystemSim, p: dict[str, Any], _now: float) -> dict[str, Any]:
    span = _span(system, p)
    states = [system.channels[c] for c in span]
    return {"Chan": span.start, "Len": len(span),
            "Status": [{"RF1": s.rf1, "RF2": s.rf2, "Stat": s.stat} for s in states]}


def _voltages(system: MaccorSystemSim, p: dict[str, Any], _now: float) -> dict[str, Any]:
    span = _span(system, p)
    return {"Chan": span.start, "Len": len(span), "Voltage": [system.readings(c)[0] for c in span]}


def _currents(system: MaccorSystemSim, p: dict[str, Any], _now: float) -> dict[str, Any]:
    span = _span(system, p)
    return {"Chan": span.start, "Len": len(span), "Current": [system.readings(c)[1] for c in span]}


def _aux(system: MaccorSystemSim, p: dict[str, Any], _now: float) -> dict[str, Any]:
    chan = _chan(system, p)
    return {"Chan": chan, "Len": 1, "AuxValues": [system.surface_c(chan)]}


def _status(system: MaccorSystemSim, p: dict[str, Any], now: float) -> dict[str, Any]:
    chan = _chan(system, p)
    return {"Chan": chan, **system.status(chan, now)}


def _test_times(system: MaccorSystemSim, p: dict[str, Any], now: float) -> dict[str, Any]:
    span = _span(system, p)
    return {"Chan": span.start, "Len": len(span), "TestTimes": [system.status(c, now)["TestTime"] for c in span]}


def _start_test(system: MaccorSystemSim, p: dict[str, Any], now: float) -> dict[str, Any]:
    chan = _chan(system, p)
    return _result(chan, system.procedure_tests.start(chan, p, now))


def _procedure_exists(system: MaccorSystemSim, p: dict[str, Any], _now: float) -> dict[str, Any]:
    name = str(p.get("ProcName", "")).strip().lower()
    return {"ProcedurExists": "TRUE" if name in system.procedure_tests.procedures else "FALSE"}


def _names(system: MaccorSystemSim, p: dict[str, Any], _now: float) -> dict[str, Any]:
    chan = _chan(system, p)
    return {"Chan": chan, **system.procedure_tests.names(chan)}


def _check_start(system: MaccorSystemSim, p: dict[str, Any], _now: float) -> dict[str, Any]:
    chan = _chan(system, p)
    return _result(chan, CHECK_RESULTS[system.procedure_tests.check(chan, p)])


def _start_error(system: MaccorSystemSim, p: dict[str, Any], _now: float) -> dict[str, Any]:
    chan = _chan(system, p)
    return {"Chan": chan, "ErrorMessage": system.procedure_tests.compile_errors.get(chan, "")}


def _variable(system: MaccorSystemSim, p: dict[str, Any], _now: float) -> dict[str, Any]:
    chan = _chan(system, p)
    number = _int_key(p, "VarNum")
    if not 1 <= number <= 15:
        raise MacNetError(INVALID_PARAMS, "Illegal value")
    system.channels[chan].variables[number - 1] = float(p.get("Value", 0.0))
    return _result(chan, "OK")


def _safety(system: MaccorSystemSim, p: dict[str, Any], _now: float) -> dict[str, Any]:
    chan = _chan(system, p)
    return {"Chan": chan, **system.set_safety(chan, p)}


FUNCTIONS: dict[tuple[int, int], Callable[[MaccorSystemSim, dict[str, Any], float], dict[str, Any]]] = {
    (1, 1): _version, (1, 2): _general, (3, 1): _spec, (4, 1): _statuses, (4, 2): _voltages, (4, 3): _currents,
    (1, 3): _procedure_exists, (4, 4): _aux, (4, 6): _names, (4, 7): _status, (4, 9): _test_times,
    (6, 2): _start_test, (6, 11): _check_start, (6, 12): _start_error,
    (6, 3): lambda s, p, _n: _result(_chan(s, p), s.suspend(_chan(s, p))),
    (6, 4): lambda s, p, n: _result(_chan(s, p), s.resume(_chan(s, p), n)),
    (6, 5): lambda s, p, _n: _result(_chan(s, p), s.reset(_chan(s, p))),
    (6, 7): lambda s, p, n: _result(_chan(s, p), s.start_direct(_chan(s, p), p, n)),
    (6, 8): lambda s, p, n: _result(_chan(s, p), s.set_direct(_chan(s, p), p, n)),
    (6, 9): _variable, (6, 10): _safety,
}

# -- binary ---------------------------------------------------------------------------------------------
_HEADER = struct.Struct("<HHHH")
_DIRECT = struct.Struct("<ffffBB")  # (6, 8): Current, Voltage, Power, Resistance, CurrentRange, ChMode


class MacNetBinarySession:
    """One binary TCP connection: echo (0, n), (1, 2), (1, 6), (1, 7), (4, 2), (4, 3), (4, 7), (6, 3), (6, 5),
    (6, 8)."""

    def __init__(self, system: MaccorSystemSim) -> None:
        self.system = system
        self._buffer = bytearray()
        self._files = FileTransfer(system.procedure_tests)

    def feed(self, data: bytes) -> bytes:
        """Consume ``data``; replies of every complete message."""
        self._buffer += data
        out = bytearray()
        while len(self._buffer) >= _HEADER.size:
            fclass, fnum, chan, length = _HEADER.unpack_from(self._buffer)
            size = self._data_size(fclass, fnum, length)
            if len(self._buffer) < _HEADER.size + size:
                break
            payload = bytes(self._buffer[_HEADER.size:_HEADER.size + size])
            del self._buffer[:_HEADER.size + size]
            out += self._reply(fclass, fnum, chan, length, payload)
        return bytes(out)

    @staticmethod
    def _data_size(fclass: int, fnum: int, length: int) -> int:
        if fclass == 0 or (fclass, fnum) in ((6, 8), (1, 6), (1, 7)):
            return length
        return 0

    def _reply(self, fclass: int, fnum: int, chan: int, length: int, payload: bytes) -> bytes:
        system = self.system
        if fclass == 0:
            return _HEADER.pack(fclass, fnum, chan, length) + payload
        if (fclass, fnum) in ((1, 6), (1, 7)):
            with system.world.lock:
                data = self._files.handle(fnum, payload)
            return _HEADER.pack(fclass, fnum, chan, len(data)) + data if data else b""
        now = system.sync()
        count = len(system.channels)
        data = b""
        if (fclass, fnum) == (1, 2):
            data = (system.system_id.encode("ascii")[:50].ljust(50, b" ")
                    + struct.pack("<BHHHHHHI", system.system_type, (count + 7) // 8, count, 1, count, 0, 0, 0))
        elif (fclass, fnum) in ((4, 2), (4, 3)) and chan + max(length, 1) <= count:
            which = 0 if fnum == 2 else 1
            data = b"".join(struct.pack("<f", system.readings(c)[which]) for c in range(chan, chan + max(length, 1)))
        elif (fclass, fnum) == (4, 7) and chan < count:
            s = system.status(chan, now)
            data = struct.pack("<BBHIIHffffffQ", s["RF1"], s["RF2"], s["Stat"], s["LastRecNum"], s["Cycle"], s["Step"],
                               s["TestTime"], s["StepTime"], s["Capacity"], s["Energy"], s["Current"], s["Voltage"],
                               int(time.time() * 1000))
        elif (fclass, fnum) in ((6, 3), (6, 5), (6, 8)):
            data = struct.pack("<H", self._command(fclass, fnum, chan, payload, now))
        return _HEADER.pack(fclass, fnum, chan, len(data)) + data

    def _command(self, fclass: int, fnum: int, chan: int, payload: bytes, now: float) -> int:
        """Result word: 0 OK, else the code of the function's result table."""
        system = self.system
        if chan >= len(system.channels):
            return 2
        if fnum == 3:
            return 0 if system.suspend(chan) == "OK" else 2
        if fnum == 5:
            system.reset(chan)
            return 0
        if len(payload) != _DIRECT.size:
            return 0xFFFF
        current, voltage, power, _res, rng, mode = _DIRECT.unpack(payload)
        params = {"Current": current, "Voltage": voltage, "Power": power, "CurrentRange": rng, "ChMode": chr(mode)}
        try:
            text = system.set_direct(chan, params, now)
        except ValueError:
            return 0xFFFF
        codes = {"OK": 0, "The channel is not active": 2}
        codes.update({text: code for code, text in DIRECT_RESULTS.items()})
        return codes.get(text, 0xFFFF)


# -- reaching it ----------------------------------------------------------------------------------------
@dataclass
class MaccorServers:
    """A simulated Maccor system on loopback: JSON and binary TCP servers sharing one link state."""

    system: MaccorSystemSim
    json_server: StreamServer
    binary_server: StreamServer
    link: LinkState
    host: str = LOOPBACK

    @property
    def resource(self) -> str:
        """What a bench config names: ``TCPIP::127.0.0.1::PORT::SOCKET`` (the JSON port)."""
        return f"TCPIP::{self.host}::{self.json_server.port}::SOCKET"

    @property
    def binary_resource(self) -> str:
        """The binary port (MacNet's 57560: file transfers), ``TCPIP::127.0.0.1::PORT::SOCKET``."""
        return f"TCPIP::{self.host}::{self.binary_server.port}::SOCKET"

    def stop(self) -> None:
        """Stop both servers."""
        self.json_server.stop()
        self.binary_server.stop()


def serve_maccor(system: MaccorSystemSim, *, host: str = LOOPBACK, json_port: int = 0, binary_port: int = 0,
                 lock: threading.Lock | threading.RLock | None = None) -> MaccorServers:
    """Start the JSON and binary MacNet servers of ``system`` (free ports by default)."""
    link = LinkState()
    lock = lock or system.world.lock
    json_server = StreamServer(lambda: MacNetJsonSession(system), name="maccor-json", host=host, port=json_port,
                               link=link, lock=lock).start()
    try:
        binary_server = StreamServer(lambda: MacNetBinarySession(system), name="maccor-binary", host=host,
                                     port=binary_port, link=link, lock=lock).start()
    except BaseException:
        json_server.stop()
        raise
    return MaccorServers(system, json_server, binary_server, link, host)


def maccor_stream(system: MaccorSystemSim, resource: str = "TCPIP::maccor-sim::57570::SOCKET", *,
                  link: LinkState | None = None) -> SimByteStream:
    """An in-process JSON stream to ``system`` (what ``drivers.maccor_macnet`` can be handed)."""
    return SimByteStream(lambda: MacNetJsonSession(system), resource, link=link, lock=system.world.lock)
