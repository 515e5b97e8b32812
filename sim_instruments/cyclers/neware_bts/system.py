"""Simulated Neware BTS 8.0 server: the XML-over-TCP client API, N channels on N world cells.

Command table from the published BTS client API as EmpaEconversion/aurora-neware uses it
(``aurora_neware/neware.py``; replies as captured from a BTS 8.0 in its ``tests/mocks.py``), not
from our driver. Every message is ``<?xml version="1.0" encoding="UTF-8" ?><bts version="1.0">
<cmd>NAME</cmd>...</bts>`` followed by the terminator ``\\n\\n#\\r\\n``; a reply names
``NAME_resp`` (``donwload_resp`` / ``donwloadlog_resp`` spelt as a BTS 8.0 spells them):

* ``connect`` (username, password, type) -> ``<result>ok</result>``;
* ``getdevinfo`` -> ``<serverip>`` and ``<middle count>`` of ``<channel ip devtype devid subdevid
  Channelid>true</channel>``;
* ``getchlstatus`` (``<list><status ... chlid>true</status>``) -> each channel's workstatus
  (``working``, ``stop``, ``finish``, ``protect``, ``pause``);
* ``inquire`` -> ``<inquire dev="devtype-devid-subdevid-chlid-0" cycle_id step_id step_type
  workstatus barcode current voltage capacity energy totaltime relativetime open_or_close
  log_code/>`` (V, A, Ah, Wh, s; a channel not working reads ``step_type="--"``, times 0);
* ``inquiredf`` -> the latest test's ``testid`` and its record ``count``;
* ``start`` (``<start ip devtype devid subdevid chlid barcode>PATH</start>``: the step file's path
  on the BTS PC, read by the server) -> ``ok`` or ``false``; only a channel in ``finish``,
  ``stop`` or ``protect`` starts (aurora-neware checks the same before it sends start);
* ``stop`` -> ``ok`` (``false`` for a channel not working);
* ``download`` (``testid`` 0 = latest, ``startpos`` 1-based seqid, ``count``) -> ``<data seqid
  stepid cycleid steptype testtime atime volt curr cap eng/>`` (testtime in ms);
* ``downloadlog`` -> ``<data seqid log_code atime/>``;
* ``light``, ``clearflag`` -> ``ok`` / ``false``.

ASSUMED where the public material is silent: a refused start carries ``reason="..."`` in its
``<start>`` element (the BTS client shows the reason in a dialog); an unknown command or a message
that is not XML gets ``<result>false</result><reason>...</reason>``; any username/password is
accepted. Faults: :meth:`NewareBtsSim.alarm` (a channel alarm -> ``protect``), the server's
``link`` (drop the cable), and any step file the parser refuses. Units: V, A, s, Ah, Wh.
"""

from __future__ import annotations

import logging
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

from sim_instruments.cyclers.neware_bts.channel import LOG_WORKING, NewareChannelSim, atime
from sim_instruments.cyclers.neware_bts.stepfile import StepFileError, parse_step_file
from sim_instruments.world.sim_world import SimWorld

logger = logging.getLogger(__name__)

HEADER = '<?xml version="1.0" encoding="UTF-8"?>\r\n<bts version="1.0">\r\n'
FOOTER = "</bts>"
TERMINATOR = b"\n\n#\r\n"
#: Workstatus values from which a start is accepted.
STARTABLE = ("finish", "stop", "protect")


@dataclass(frozen=True)
class NewareUnit:
    """The simulated unit's identity and channel range: devtype (27 in the captured replies),
    devid, subdevid; channel span 0..max_voltage_v V, ±max_current_a A (ASSUMED: a 5 V / 12 A
    channel, the CT-4008T class)."""

    ip: str = "127.0.0.1"
    devtype: int = 27
    devid: int = 21
    subdevid: int = 1
    max_voltage_v: float = 5.0
    max_current_a: float = 12.0


def _num(value: float) -> str:
    return f"{value:.6g}" if math.isfinite(value) else "0"


class NewareBtsSim:
    """A BTS server whose channel k (chlid k+1) drives ``world.channels[channels[k]]``."""

    def __init__(self, world: SimWorld, channels: list[int] | None = None, *, unit: NewareUnit | None = None) -> None:
        self.world = world
        self.unit = unit or NewareUnit()
        cells = list(range(len(world.channels))) if channels is None else list(channels)
        self.channels = [NewareChannelSim(world.channels[c], k + 1, max_voltage_v=self.unit.max_voltage_v,
                                          max_current_a=self.unit.max_current_a) for k, c in enumerate(cells)]
        self._next_test_id = 1
        world.hooks.append(self._hook)

    # ------------------------------------------------------------------ time
    def _hook(self, world: SimWorld, _target_s: float) -> None:
        """Before the world steps: look at every channel at the instant it was synced to."""
        now = world.now_s
        for channel in self.channels:
            channel.process(now)

    def sync(self) -> float:
        """Bring the world and every channel to the clock's present; the time in seconds (under the
        world's lock: the served ticker and the command sessions run in different threads)."""
        with self.world.lock:
            now = self.world.sync()
            for channel in self.channels:
                channel.process(now)
            return now

    def alarm(self, chlid: int, reason: str = "channel alarm") -> None:
        """Fault: channel ``chlid`` alarms (output off, workstatus ``protect``)."""
        with self.world.lock:
            now = self.sync()
            self.channels[chlid - 1].stop(now, "protect", reason)

    # ------------------------------------------------------------------ commands
    def handle(self, text: str) -> str:
        """One request message (without terminator) -> the reply message (without terminator)."""
        try:
            root = ET.fromstring(text)
        except ET.ParseError as exc:
            return self._error("", f"not an XML message: {exc}")
        cmd = (root.findtext("cmd") or "").strip()
        handler = COMMANDS.get(cmd)
        if handler is None:
            return self._error(cmd, f"unknown command {cmd!r}")
        with self.world.lock:
            now = self.sync()
            try:
                body = handler(self, root, now)
            except (KeyError, ValueError) as exc:
                return self._error(cmd, str(exc).strip("'\""))
        name = {"download": "donwload", "downloadlog": "donwloadlog"}.get(cmd, cmd)
        return f"{HEADER}  <cmd>{name}_resp</cmd>\r\n{body}{FOOTER}"

    def _error(self, cmd: str, reason: str) -> str:
        logger.info("simulated BTS: %s", reason)
        return f"{HEADER}  <cmd>{cmd or 'error'}_resp</cmd>\r\n  <result>false</result>\r\n" \
               f"  <reason>{_escape(reason)}</reason>\r\n{FOOTER}"

    def channel_of(self, node: ET.Element) -> NewareChannelSim:
        """The channel a request element addresses (devid, subdevid, chlid); KeyError otherwise."""
        unit = self.unit
        try:
            devid, subdevid, chlid = int(node.get("devid", "")), int(node.get("subdevid", "")), int(node.get("chlid", ""))
        except ValueError:
            raise KeyError(f"<{node.tag}> needs numeric devid, subdevid and chlid") from None
        if devid != unit.devid or subdevid != unit.subdevid or not 1 <= chlid <= len(self.channels):
            raise KeyError(f"no channel {devid}-{subdevid}-{chlid}")
        return self.channels[chlid - 1]

    def _attrs(self, ch: NewareChannelSim, ip: bool = True) -> str:
        u = self.unit
        head = f'ip="{u.ip}" ' if ip else ""
        return f'{head}devtype="{u.devtype}" devid="{u.devid}" subdevid="{u.subdevid}" chlid="{ch.chlid}"'

    def _items(self, root: ET.Element, tag: str) -> list[ET.Element]:
        lst = root.find("list")
        if lst is None:
            raise ValueError(f"{tag}: no <list>")
        return [node for node in lst if node.tag == tag]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _list(rows: list[str]) -> str:
    return f'  <list count="{len(rows)}">\r\n' + "".join(f"    {r}\r\n" for r in rows) + "  </list>\r\n"


def _connect(sim: NewareBtsSim, root: ET.Element, now: float) -> str:
    return "  <result>ok</result>\r\n"


def _getdevinfo(sim: NewareBtsSim, root: ET.Element, now: float) -> str:
    u = sim.unit
    rows = [f'<channel ip="{u.ip}" devtype="{u.devtype}" devid="{u.devid}" subdevid="{u.subdevid}" '
            f'Channelid="{ch.chlid}">true</channel>' for ch in sim.channels]
    return (f'  <serverip count="1">\r\n    <server ip="{u.ip}" port="3306" />\r\n  </serverip>\r\n'
            f'  <middle count="{len(rows)}">\r\n' + "".join(f"    {r}\r\n" for r in rows) + "</middle>\r\n")


def _getchlstatus(sim: NewareBtsSim, root: ET.Element, now: float) -> str:
    rows = [f'<status {sim._attrs(ch)} reservepause="1">{ch.state.workstatus}</status>'
            for ch in map(sim.channel_of, sim._items(root, "status"))]
    return _list(rows)


def _inquire(sim: NewareBtsSim, root: ET.Element, now: float) -> str:
    rows = []
    u = sim.unit
    for ch in map(sim.channel_of, sim._items(root, "inquire")):
        st = ch.state
        voltage, current = ch.readings()
        working = st.workstatus == "working" and st.step is not None
        step = f'step_id="{st.step.number}" step_type="{st.step.name}" ' if working and st.step else 'step_type="--" '
        total = now - st.test_start_s if working else 0.0
        rows.append(f'<inquire dev="{u.devtype}-{u.devid}-{u.subdevid}-{ch.chlid}-0" cycle_id="{st.cycle_id}" {step}'
                    f'workstatus="{st.workstatus}" barcode={quoteattr(st.barcode)} current="{_num(current)}" '
                    f'voltage="{_num(voltage)}" capacity="{_num(st.capacity_ah if working else 0.0)}" '
                    f'energy="{_num(st.energy_wh if working else 0.0)}" totaltime="{_num(total)}" '
                    f'relativetime="{_num(ch.step_time_s(now))}" open_or_close="0" '
                    f'log_code="{LOG_WORKING if working else 0}" />')
    return _list(rows)


def _inquiredf(sim: NewareBtsSim, root: ET.Element, now: float) -> str:
    rows = [f'<chl {sim._attrs(ch, ip=False)} testid="{ch.state.test_id}" count="{len(ch.state.records)}">true</chl>'
            for ch in map(sim.channel_of, sim._items(root, "chl"))]
    return _list(rows)


def _start(sim: NewareBtsSim, root: ET.Element, now: float) -> str:
    rows = []
    for node in sim._items(root, "start"):
        ch = sim.channel_of(node)
        reason = ""
        if ch.state.workstatus not in STARTABLE:
            reason = f"channel is {ch.state.workstatus}"
        else:
            path = (node.text or "").strip()
            try:
                data = Path(path).read_bytes()
                step_file = parse_step_file(data, max_current_a=sim.unit.max_current_a,
                                            max_voltage_v=sim.unit.max_voltage_v)
            except OSError as exc:
                reason = f"cannot read step file {path!r}: {exc.strerror or exc}"
            except StepFileError as exc:
                reason = f"step file {Path(path).name}: {exc}"
            else:
                ch.start(step_file, node.get("barcode", ""), sim._next_test_id, now)
                sim._next_test_id += 1
        if reason:
            logger.info("simulated BTS: start on channel %d refused: %s", ch.chlid, reason)
            rows.append(f'<start {sim._attrs(ch)} reason={quoteattr(reason)}>false</start>')
        else:
            rows.append(f'<start {sim._attrs(ch)}>ok</start>')
    return _list(rows)


def _stop(sim: NewareBtsSim, root: ET.Element, now: float) -> str:
    rows = []
    for ch in map(sim.channel_of, sim._items(root, "stop")):
        ok = ch.state.workstatus in ("working", "pause")
        ch.stop(now)
        rows.append(f'<stop {sim._attrs(ch)}>{"ok" if ok else "false"}</stop>')
    return _list(rows)


def _target(sim: NewareBtsSim, root: ET.Element, tag: str) -> tuple[NewareChannelSim, int, list]:
    node = root.find(tag)
    if node is None:
        raise ValueError(f"{tag}: no <{tag}> element")
    ch = sim.channel_of(node)
    test_id = int(node.get("testid", "0") or 0)
    test_id = test_id or ch.state.test_id
    return ch, test_id, ch.tests.get(test_id, [])


def _download(sim: NewareBtsSim, root: ET.Element, now: float) -> str:
    ch, test_id, records = _target(sim, root, "download")
    node = root.find("download")
    assert node is not None
    start, count = int(node.get("startpos", "1")), int(node.get("count", "0"))
    chunk = records[max(start, 1) - 1:max(start, 1) - 1 + max(count, 0)] if count > 0 else []
    rows = [f'<data seqid="{r.seqid}" stepid="{r.stepid}" cycleid="{r.cycleid}" steptype="{r.steptype}" '
            f'testtime="{round(r.test_time_s * 1000)}" atime="{atime(r.at_s)}" volt="{r.voltage_v!r}" '
            f'curr="{r.current_a!r}" cap="{r.capacity_ah!r}" eng="{r.energy_wh!r}" />' for r in chunk]
    head = (f'  <download {sim._attrs(ch, ip=False)} testid="{test_id}" startpos="{start}" count="{count}" '
            f'auxid="{node.get("auxid", "0")}" />\r\n')
    return head + (_list(rows) if rows else '  <list count="0" />\r\n')


def _downloadlog(sim: NewareBtsSim, root: ET.Element, now: float) -> str:
    ch, test_id, _records = _target(sim, root, "download")
    log = ch.state.log if test_id == ch.state.test_id else []
    rows = [f'<data seqid="{max(seq, 1)}" log_code="{code}" atime="{atime(at)}" />' for seq, code, at in log]
    return f'  <download {sim._attrs(ch, ip=False)} testid="{test_id}" log_lever="0" />\r\n' + _list(rows)


def _light(sim: NewareBtsSim, root: ET.Element, now: float) -> str:
    return _list([f"<light {sim._attrs(ch)}>ok</light>" for ch in map(sim.channel_of, sim._items(root, "light"))])


def _clearflag(sim: NewareBtsSim, root: ET.Element, now: float) -> str:
    rows = []
    for ch in map(sim.channel_of, sim._items(root, "clearflag")):
        had = bool(ch.state.alarm)
        ch.state.alarm = ""
        rows.append(f'<clearflag {sim._attrs(ch)}>{"ok" if had else "false"}</clearflag>')
    return _list(rows)


#: The command table (the published API's command names).
COMMANDS = {
    "connect": _connect, "getdevinfo": _getdevinfo, "getchlstatus": _getchlstatus, "inquire": _inquire,
    "inquiredf": _inquiredf, "start": _start, "stop": _stop, "download": _download, "downloadlog": _downloadlog,
    "light": _light, "clearflag": _clearflag,
}
