"""Neware BTS 8.0 channel for delegated execution: the BTS client API, XML over TCP.

Neware's own "BTS Client API" manual is handed out with the API activation key, not published; the
facts here come from the public client EmpaEconversion/aurora-neware 0.2.3 (``aurora_neware/
neware.py``: each command cited by the section of that client that sends it, e.g. ``NewareAPI.start``;
replies captured from a BTS 8.0 in its ``tests/mocks.py``). The BTS server listens on
port 502 of the BTS PC once the API is activated (Help -> Mode settings). Every request is
``<?xml version="1.0" encoding="UTF-8" ?><bts version="1.0"><cmd>NAME</cmd>...</bts>`` and ends
with ``\\n\\n#\\r\\n``; the reply names ``NAME_resp`` and ends the same way. A channel ("pipeline")
is ``devid-subdevid-chlid`` from ``getdevinfo``.

The API starts a step file by its *path on the BTS PC* (``<start ... barcode=ID>PATH</start>``):
:meth:`NewareBtsChannel.download` writes the file into ``step_dir`` (a folder the BTS PC reads; on
a bench PC that is also the BTS PC, any local folder), :meth:`start` sends its path. The BTS checks
the file at start: a refusal raises :class:`~drivers.errors.InstrumentCommandError` with the
reason the server gives. Readings: ``inquire`` (V, A, Ah, s), stored records: ``inquiredf`` (count)
and ``download`` (``testtime`` in ms). No cell temperature is read here (the BTS aux channels'
replies are not in the public material): ``temperature_c`` is NaN; wire a thermometer.
"""

from __future__ import annotations

import logging
import math
import re
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from xml.sax.saxutils import quoteattr

from drivers.delegated.channel import ChannelSample, ChannelStatus
from drivers.errors import InstrumentCommandError, InstrumentError, InstrumentReplyError, InstrumentTimeout
from drivers.stream import ByteStream, TcpStream

logger = logging.getLogger(__name__)

HEADER = '<?xml version="1.0" encoding="UTF-8" ?><bts version="1.0">'
FOOTER = "</bts>"
TERMINATOR = b"\n\n#\r\n"
#: Records per ``download`` request (aurora-neware downloads 1000 at a time).
CHUNK = 1000
#: BTS workstatus -> the bench's channel state.
STATES = {"working": "running", "finish": "finished", "stop": "stopped", "protect": "alarm", "pause": "paused"}
#: Workstatus values a start is accepted from (aurora-neware checks the same).
STARTABLE = ("finish", "stop", "protect")
#: The BTS spells two reply names ``donwload_resp`` / ``donwloadlog_resp`` (captured replies).
_REPLY_NAMES = {"download": ("download_resp", "donwload_resp"), "downloadlog": ("downloadlog_resp", "donwloadlog_resp")}


def _float(node: ET.Element, key: str, where: str) -> float:
    text = node.get(key)
    if text is None or text == "--":
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise InstrumentReplyError(f"{where}: {key}={text!r} is not a number") from None


class NewareBtsChannel:
    """One BTS channel (``pipeline`` ``devid-subdevid-chlid``, or the ``channel``-th of getdevinfo)
    behind one connection; implements :class:`drivers.delegated.channel.DelegatedChannel`."""

    step_format = "neware_xml"

    def __init__(self, stream: ByteStream, *, pipeline: str | None = None, channel: int | None = None,
                 step_dir: str | Path = ".", name: str = "cycler", username: str = "admin",
                 password: str = "neware") -> None:
        self.stream = stream
        self.name = name
        self.step_dir = Path(step_dir)
        self._username, self._password = username, password
        self._step_path: Path | None = None
        self.where = f"{name} (Neware BTS {stream.resource})"
        self._connect()
        self.pipeline, self._chan = self._resolve(pipeline, channel)
        self.where = f"{name} (Neware BTS {stream.resource} channel {self.pipeline})"

    # ------------------------------------------------------------------ link
    def _connect(self) -> None:
        self.command("connect", f"<username>{self._username}</username><password>{self._password}</password>"
                                "<type>bfgs</type>")

    def _resolve(self, pipeline: str | None, channel: int | None) -> tuple[str, dict[str, str]]:
        root = self.command("getdevinfo", "")
        found = [dict(node.attrib) for node in root.iterfind("middle/channel")]
        ids = [f"{c.get('devid')}-{c.get('subdevid')}-{c.get('Channelid')}" for c in found]
        if not found:
            raise InstrumentError(f"{self.where}: getdevinfo lists no channels (are the units online in BTS?)")
        if pipeline is not None:
            if pipeline not in ids:
                raise InstrumentError(f"{self.where}: no channel {pipeline}; the BTS has {', '.join(ids[:8])}"
                                      + (" ..." if len(ids) > 8 else ""))
            return pipeline, found[ids.index(pipeline)]
        index = 1 if channel is None else channel
        if not 1 <= index <= len(found):
            raise InstrumentError(f"{self.where}: channel {index}: the BTS lists {len(found)} channels")
        return ids[index - 1], found[index - 1]

    @property
    def transport(self) -> ByteStream:
        """The connection to the BTS (closing it leaves the channel running)."""
        return self.stream

    def verify_identity(self) -> str:
        """Check that the server is a BTS that still lists this channel (``getdevinfo``, section
        ``NewareAPI.getdevinfo``) and say what the channel is doing; InstrumentError otherwise."""
        root = self.command("getdevinfo", "")
        ids = {f"{c.get('devid')}-{c.get('subdevid')}-{c.get('Channelid')}" for c in root.iterfind("middle/channel")}
        if self.pipeline not in ids:
            raise InstrumentError(f"{self.where}: the BTS no longer lists channel {self.pipeline}")
        status = self.status()
        test = f", test {status.test_id}" if status.test_id else ""
        return f"Neware BTS channel {self.pipeline} (devtype {self._chan.get('devtype')}): {status.state}{test}"

    def _addr(self, ip: bool = True) -> str:
        c = self._chan
        head = f'ip="{c.get("ip", "")}" ' if ip else ""
        return f'{head}devtype="{c.get("devtype")}" devid="{c.get("devid")}" subdevid="{c.get("subdevid")}" ' \
               f'chlid="{c.get("Channelid")}"'

    def command(self, cmd: str, body: str) -> ET.Element:
        """Send ``cmd`` with ``body``; the parsed reply. One reconnect on a broken link."""
        message = (HEADER + f"<cmd>{cmd}</cmd>" + body + FOOTER).encode("utf-8") + TERMINATOR
        for attempt in (1, 2):
            try:
                self.stream.send(message)
                raw = self.stream.recv_until(TERMINATOR)
                break
            except TimeoutError:
                raise InstrumentTimeout(f"{self.where}: no reply to {cmd}") from None
            except OSError as exc:
                if attempt == 2 or cmd == "connect":
                    raise InstrumentError(f"{self.where}: link lost during {cmd}: {exc}") from None
                logger.warning("%s: link lost during %s (%s); reconnecting", self.where, cmd, exc)
                try:
                    self.stream.reopen()
                    self._connect()
                except (OSError, InstrumentError) as again:
                    raise InstrumentError(f"{self.where}: link lost during {cmd}; reconnect failed: {again}") from None
        try:
            root = ET.fromstring(raw[:-len(TERMINATOR)].decode("utf-8"))
        except (ET.ParseError, UnicodeDecodeError) as exc:
            raise InstrumentReplyError(f"{self.where}: garbage reply to {cmd}: {raw[:80]!r} ({exc})") from None
        got = (root.findtext("cmd") or "").strip()
        if root.tag != "bts" or got not in _REPLY_NAMES.get(cmd, (f"{cmd}_resp",)):
            raise InstrumentReplyError(f"{self.where}: reply to {cmd} is {got or root.tag!r}, not {cmd}_resp")
        if (root.findtext("result") or "").strip() == "false":
            reason = (root.findtext("reason") or "refused").strip()
            raise InstrumentCommandError(f"{self.where}: {cmd} refused: {reason}")
        return root

    def _row(self, root: ET.Element, tag: str, cmd: str) -> ET.Element:
        node = root.find(f"list/{tag}")
        if node is None:
            raise InstrumentReplyError(f"{self.where}: reply to {cmd} has no <{tag}> for this channel")
        return node

    # ------------------------------------------------------------------ DelegatedChannel
    def download(self, step_file: bytes, name: str) -> None:
        """Write the step file where the BTS reads it (``step_dir/NAME.xml``); the BTS checks it at
        :meth:`start`."""
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "protocol"
        path = (self.step_dir / f"{safe}.xml").resolve()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(step_file)
        except OSError as exc:
            raise InstrumentError(f"{self.where}: cannot write the step file {path}: {exc}") from None
        self._step_path = path

    def start(self, test_id: str) -> None:
        """Start the downloaded step file, barcode ``test_id``; raises with the BTS's reason."""
        if self._step_path is None:
            raise InstrumentError(f"{self.where}: start before download (no step file)")
        # the <backup> element as aurora-neware's NewareAPI.start sends it: where the BTS saves the
        # test's data file (here beside the step file), saved every 720 min
        backup = (f'<backup backupdir={quoteattr(str(self._step_path.parent))} remotedir="" filenametype="0" '
                  'customfilename="" addtimewhenrepeat="0" createdirbydate="0" filetype="0" backupontime="1" '
                  'backupontimeinterval="720" backupfree="1" />')
        body = (f'<list count="1"><start {self._addr()} barcode={quoteattr(test_id)}>{self._step_path}</start>'
                f"{backup}</list>")
        node = self._row(self.command("start", body), "start", "start")
        if (node.text or "").strip() != "ok":
            reason = node.get("reason") or "the BTS answered false (channel busy or step file refused)"
            raise InstrumentCommandError(f"{self.where}: start refused: {reason}")

    def stop(self) -> None:
        """Stop the channel (``false`` from a channel that was not working is no error)."""
        self._row(self.command("stop", f'<list count="1"><stop {self._addr()}>true</stop></list>'), "stop", "stop")

    def _inquire(self) -> ET.Element:
        body = f'<list count="1"><inquire {self._addr()} aux="0" barcode="1">true</inquire></list>'
        return self._row(self.command("inquire", body), "inquire", "inquire")

    def status(self) -> ChannelStatus:
        """The channel's state from ``inquire`` (``test_id`` is the barcode it was started with)."""
        node = self._inquire()
        work = node.get("workstatus", "")
        if work not in STATES:
            raise InstrumentReplyError(f"{self.where}: unknown workstatus {work!r}")
        step, cycle = _float(node, "step_id", self.where), _float(node, "cycle_id", self.where)
        detail = f"log_code {node.get('log_code')}" if work == "protect" else ""
        return ChannelStatus(STATES[work], node.get("barcode", ""), -1 if math.isnan(step) else int(step),
                             -1 if math.isnan(cycle) else int(cycle), detail)

    def latest(self) -> ChannelSample:
        """The latest reading (``inquire``): test time s, V, A (+ charge), step, cycle, step Ah."""
        node = self._inquire()
        w = self.where
        step, cycle = _float(node, "step_id", w), _float(node, "cycle_id", w)
        return ChannelSample(_float(node, "totaltime", w), _float(node, "voltage", w), _float(node, "current", w),
                             math.nan, -1 if math.isnan(step) else int(step), -1 if math.isnan(cycle) else int(cycle),
                             _float(node, "capacity", w))

    def _count(self) -> int:
        body = f'<list count="1"><chl {self._addr(ip=False)} testid="0" /></list>'
        node = self._row(self.command("inquiredf", body), "chl", "inquiredf")
        count = _float(node, "count", self.where)
        return 0 if math.isnan(count) else int(count)

    def _download(self, start: int, count: int) -> list[ChannelSample]:
        body = f'<download {self._addr(ip=False)} auxid="0" testid="0" startpos="{start}" count="{count}"/>'
        root = self.command("download", body)
        out = []
        w = self.where
        for node in root.iterfind("list/data"):
            out.append(ChannelSample(_float(node, "testtime", w) / 1000.0, _float(node, "volt", w),
                                     _float(node, "curr", w), math.nan, int(_float(node, "stepid", w)),
                                     int(_float(node, "cycleid", w)), _float(node, "cap", w)))
        return out

    def records_since(self, test_time_s: float) -> list[ChannelSample]:
        """The stored records of the latest test after ``test_time_s`` (a binary search for the
        first one, then ``download`` in chunks of :data:`CHUNK`)."""
        count = self._count()
        low, high = 1, count + 1  # first seqid whose testtime > test_time_s lies in [low, high]
        while low < high:
            mid = (low + high) // 2
            row = self._download(mid, 1)
            if not row:
                high = mid
            elif row[0].test_time_s > test_time_s:
                high = mid
            else:
                low = mid + 1
        out: list[ChannelSample] = []
        position = low
        while position <= count:
            chunk = self._download(position, min(CHUNK, count - position + 1))
            if not chunk:
                break
            out += chunk
            position += len(chunk)
        return out

    def close(self) -> None:
        """Close the connection (the channel keeps running its step file)."""
        self.stream.close()


def open_neware_channel(resource: str, *, name: str = "cycler", timeout_s: float = 5.0, pipeline: str | None = None,
                        channel: int | None = None, step_dir: str | Path | None = None,
                        stream: ByteStream | None = None) -> NewareBtsChannel:
    """Connect to the BTS at ``resource`` (``TCPIP::host::502::SOCKET`` or ``host:port``) and bind a
    channel; a ``stream`` given (an in-process simulator) is used instead of TCP. ``step_dir``:
    where step files are written (default: ``cellbench_neware`` in the system's temporary folder)."""
    if step_dir is None:
        step_dir = Path(tempfile.gettempdir()) / "cellbench_neware"
    try:
        link = stream if stream is not None else TcpStream(resource, timeout_s=timeout_s)
    except ValueError as exc:
        raise InstrumentError(f"{name}: {exc}") from None
    except OSError as exc:
        raise InstrumentError(f"{name} (Neware BTS {resource}): cannot connect: {exc}") from None
    try:
        return NewareBtsChannel(link, pipeline=pipeline, channel=channel, step_dir=step_dir, name=name)
    except BaseException:
        link.close()
        raise
