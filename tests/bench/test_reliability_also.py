"""Issue 18's "Also" list on the bench side: one Test Time per row at --speed max, valid JSON from
``--json``, unknown bench TOML keys refused with their line, and the xcb libraries checked before
a window opens (the run that asked for it unaffected)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bench.cli import main
from bench.config import BenchConfigError, load_bench_config
from bench.runfile.reader import RunFile

PROTOCOL = """
name: boundaries
cell: {preset: nmc_21700}
steps:
  - Rest for 30 s
  - Discharge at 1C for 30 s
  - Rest for 30 s
"""


@pytest.fixture(scope="module")
def boundary_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("also")
    protocol = base / "boundaries.yaml"
    protocol.write_text(PROTOCOL)
    out = base / "run.h5"
    assert main(["run", str(protocol), "--out", str(out), "--no-progress"]) == 0
    return out


def test_every_row_has_its_own_test_time_at_step_boundaries(boundary_run):
    with RunFile(boundary_run) as run:
        samples = run.samples
    t, step = samples["Test Time / s"], samples["Step Count / 1"]
    assert set(step.tolist()) == {1, 2, 3, 4}  # 4: the final observation after the protocol
    assert (np.diff(t) > 0).all()  # strictly increasing, also where the step count changes


def test_report_json_is_strict_json(boundary_run, capsys):
    capsys.readouterr()
    assert main(["report", str(boundary_run), "--json"]) == 0
    text = capsys.readouterr().out

    def refuse(constant: str) -> float:
        raise AssertionError(f"bare {constant} in --json output")
    report = json.loads(text, parse_constant=refuse)
    assert report["conditions"]["cell"]["initial_soc"] is None  # NaN in the run file -> null
    assert not any(isinstance(v, float) and not math.isfinite(v) for v in report["metrics"].values())


@pytest.mark.parametrize(("toml", "says"), [
    ('[cycler]\ndriver = "keithley2460"\nresource = "TCPIP::127.0.0.1::5025::SOCKET"\ntimeout = 3\n',
     "bench.toml:4: unknown key 'timeout' in [cycler] (did you mean 'timeout_s'?)"),
    ('[cycler]\ndriver = "keithley2460"\nresource = "x"\n\n[bench]\nname = "bay 3"\nsped = 2\n',
     "bench.toml:7: unknown key 'sped' in [bench] (did you mean 'speed'?)"),
    ('[cycler]\ndriver = "keithley2460"\nresource = "x"\n\n[chambre]\ndriver = "espec_p300"\n',
     "bench.toml:5: unknown section [chambre]"),
])
def test_unknown_bench_toml_keys_are_refused_with_their_line(tmp_path, toml, says):
    path = tmp_path / "bench.toml"
    path.write_text(toml)
    with pytest.raises(BenchConfigError) as caught:
        load_bench_config(path)
    assert str(caught.value).startswith(str(tmp_path / says.split(":")[0]))
    assert says.split("bench.toml", 1)[1] in str(caught.value)


def test_missing_xcb_libraries_are_named_before_a_window_opens(monkeypatch, boundary_run, capsys, caplog):
    import ctypes.util

    from bench.plot import live

    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(live.sys, "platform", "linux")
    real = ctypes.util.find_library
    monkeypatch.setattr(ctypes.util, "find_library",
                        lambda name: None if name in ("xcb-cursor", "xcb-keysyms") else real(name) or f"lib{name}.so")
    assert main(["plot", str(boundary_run), "--live"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sudo apt install libxcb-cursor0 libxcb-keysyms1" in err
    # bench run --live: the window is not started, the run goes on
    assert live.start_live_plot(boundary_run) is None
    assert "libxcb-cursor0" in caplog.text
