"""Byte-stream TCP link under the multi-channel cycler drivers: resource forms, framing reads, and
the built-in exceptions of the ByteStream contract (timeout, closed peer) on loopback."""

from __future__ import annotations

import socket
import threading

import pytest

from drivers.stream import TcpStream, parse_tcp_resource

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(("resource", "expected"), [
    ("TCPIP::192.0.2.4::57570::SOCKET", ("192.0.2.4", 57570)),
    ("TCPIP0::maccor-pc::57570::SOCKET", ("maccor-pc", 57570)),
    ("tcp://127.0.0.1:9031", ("127.0.0.1", 9031)),
    ("arbin-pc:9031", ("arbin-pc", 9031)),
])
def test_resource_forms(resource, expected):
    assert parse_tcp_resource(resource) == expected


@pytest.mark.parametrize("resource", ["TCPIP::h::5025::INSTR", "/dev/ttyUSB0", "h:70000", "h"])
def test_bad_resources_are_named(resource):
    with pytest.raises(ValueError, match="expected TCPIP::host::port::SOCKET|out of range"):
        parse_tcp_resource(resource)


@pytest.fixture
def peer():
    """A loopback server: answers b"ab\\r\\ncd" to the first message, then stays silent, closes on demand."""
    listener = socket.create_server(("127.0.0.1", 0))
    state: dict = {"close": threading.Event()}

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(100)
            conn.sendall(b"ab\r\ncd")
            state["close"].wait(10)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], state
    state["close"].set()
    thread.join(5)
    listener.close()


def test_reads_by_terminator_and_length_then_timeout_then_closed_peer(peer):
    port, state = peer
    stream = TcpStream(f"TCPIP::127.0.0.1::{port}::SOCKET", timeout_s=0.2)
    stream.send(b"hello")
    assert stream.recv_until(b"\r\n") == b"ab\r\n"
    assert stream.recv_exact(2) == b"cd"
    with pytest.raises(TimeoutError):
        stream.recv_exact(1)
    state["close"].set()
    with pytest.raises(ConnectionError, match="closed by the peer"):
        for _ in range(50):  # the peer's FIN arrives within a few reads
            try:
                stream.recv_exact(1)
            except TimeoutError:
                continue
    stream.close()
    with pytest.raises(ConnectionError, match="not connected"):
        stream.send(b"x")
