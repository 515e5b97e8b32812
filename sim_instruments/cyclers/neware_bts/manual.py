"""The simulated Neware BTS's command table as the public BTS 8.0 client API gives it (EmpaEconversion
aurora-neware ``aurora_neware/neware.py``: its list of Neware's API commands, the messages it sends,
and the replies captured from a BTS 8.0 in ``tests/mocks.py``). See docs/simulators.md.
"""

from __future__ import annotations

from sim_instruments.wire.manual_commands import ManualCommand

_SRC = "BTS 8.0 client API (aurora-neware 0.2.3 neware.py"


def _row(cmd: str, where: str, example: str, note: str = "") -> ManualCommand:
    return ManualCommand(f"<cmd>{cmd}</cmd>", f"{_SRC}: {where})", "implemented", example, note)


def _unsupported(cmd: str, why: str = "no public message or reply format") -> ManualCommand:
    return ManualCommand(f"<cmd>{cmd}</cmd>", f"{_SRC}: list of remaining API commands)", "unsupported",
                         f"<cmd>{cmd}</cmd>", f"{why}: <result>false</result> with reason \"unknown command\"")


MANUAL_COMMANDS: tuple[ManualCommand, ...] = (
    _row("connect", "NewareAPI.connect", "<cmd>connect</cmd><username>admin</username>",
         "any username / password is accepted (ASSUMED)"),
    _row("getdevinfo", "NewareAPI.getdevinfo; mocks _get_devinfo_response", "<cmd>getdevinfo</cmd>"),
    _row("getchlstatus", "NewareAPI.getchlstatus; mocks _get_status_*", '<cmd>getchlstatus</cmd><list count = "1">'),
    _row("inquire", "NewareAPI.inquire; mocks _inquire_*", '<cmd>inquire</cmd><list count = "1">'),
    _row("inquiredf", "NewareAPI.inquiredf; mocks _inquiredf_*", '<cmd>inquiredf</cmd><list count = "1">'),
    _row("start", "NewareAPI.start; mocks _start_*", '<cmd>start</cmd><list count = "1">',
         "the step file is read from the path given; a refusal carries reason=\"...\" (ASSUMED)"),
    _row("stop", "NewareAPI.stop; mocks _stop_*", '<cmd>stop</cmd><list count = "1">'),
    _row("download", "NewareAPI.download, get_testid; mocks _download_*", '<cmd>download</cmd><download devtype="27"',
         "the reply is named donwload_resp, as a BTS 8.0 spells it"),
    _row("downloadlog", "NewareAPI.downloadlog; mocks _downloadlog_*", "<cmd>downloadlog</cmd><download",
         "log codes 100000 start / 100001 finish as captured; stop 100002 / protect 100003 ASSUMED"),
    _row("light", "NewareAPI.light; mocks _light_response", '<cmd>light</cmd><list count = "1">'),
    _row("clearflag", "NewareAPI.clearflag; mocks _clear_flag_response", '<cmd>clearflag</cmd><list count = "1">'),
    _unsupported("downloadStepLayer", "step summaries are not kept (the records are)"),
    _unsupported("broadcaststop"),
    _unsupported("continue"),
    _unsupported("chl_ctrl"),
    _unsupported("goto"),
    _unsupported("parallel"),
    _unsupported("getparallel"),
    _unsupported("resetalarm"),
    _unsupported("reset"),
)
