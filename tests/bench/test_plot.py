"""Live plot: bounded decimation, incremental SWMR reading, the window's refresh, PNG rendering."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.cli import main
from bench.plot.data import RunMonitor
from bench.plot.decimate import DecimatedSeries, MinMaxEnvelope, RingBuffer
from bench.runfile.writer import RunWriter

pytest.importorskip("pyqtgraph")


# -- decimation ----------------------------------------------------------------------------------
def test_ring_buffer_keeps_the_newest_rows_in_order():
    ring = RingBuffer(5)
    ring.extend([0, 1, 2], [10, 11, 12])
    assert ring.arrays()[0].tolist() == [0, 1, 2]
    ring.extend([3, 4, 5, 6], [13, 14, 15, 16])
    x, y = ring.arrays()
    assert x.tolist() == [2, 3, 4, 5, 6] and y.tolist() == [12, 13, 14, 15, 16]
    ring.extend(np.arange(7, 20), np.arange(17, 30))  # more than the capacity at once
    assert ring.arrays()[0].tolist() == [15, 16, 17, 18, 19]


def test_envelope_memory_is_bounded_and_keeps_extremes_and_spikes():
    rng = np.random.default_rng(3)
    n = 1_000_000
    x = np.arange(n, dtype=float)
    y = np.sin(x / 5e4) + rng.normal(0, 0.01, n)
    y[123_457] = 9.0  # one-sample spike
    y[777_777] = -9.0
    y[400_000:400_010] = np.nan  # a sensor gap
    env = MinMaxEnvelope(max_buckets=512)
    start = 0
    sizes = []
    while start < n:  # uneven appends, as a live run delivers them
        size = int(rng.integers(1, 40_000))
        env.extend(x[start:start + size], y[start:start + size])
        sizes.append(env.nbytes)
        start += size
    assert env.rows == n and env.buckets <= 512
    assert max(sizes) <= (512 + 1) * 4 * 8  # fixed memory, whatever the run length
    px, py = env.points()
    assert len(px) <= 2 * (512 + 1)
    assert np.all(np.diff(px) >= 0)  # time order
    assert np.nanmax(py) == 9.0 and px[np.nanargmax(py)] == 123_457
    assert np.nanmin(py) == -9.0 and px[np.nanargmin(py)] == 777_777
    assert np.nanmax(py[px > 123_457 + env.bucket_rows]) == pytest.approx(np.nanmax(y[123_457 + 2 * env.bucket_rows:]))


def test_envelope_of_aligned_appends_equals_exact_bucket_minmax():
    x = np.arange(64, dtype=float)
    y = (x * 7919) % 31  # deterministic scramble
    env = MinMaxEnvelope(max_buckets=8)
    for chunk in np.array_split(np.arange(64), 5):
        env.extend(x[chunk], y[chunk])
    assert env.bucket_rows == 8 and env.buckets == 8
    px, py = env.points()
    for b in range(8):
        seg = y[8 * b:8 * b + 8]
        assert sorted(py[2 * b:2 * b + 2]) == [seg.min(), seg.max()]


def test_decimated_series_draws_raw_recent_rows_and_few_points():
    series = DecimatedSeries(max_buckets=256, recent_rows=1000)
    x = np.arange(200_000, dtype=float)
    series.extend(x, np.cos(x / 1e3))
    px, py = series.points()
    assert len(px) <= series.max_points
    np.testing.assert_array_equal(px[-1000:], x[-1000:])  # newest rows at full resolution
    assert np.all(np.diff(px) >= 0)


# -- reading a run file while it is written ------------------------------------------------------
def _row(i: int, *, cycle: int = 1, discharged: float = 0.0, t_cell: float = 25.0) -> tuple:
    return (float(i), 1.7e9 + i, 3.5 + 1e-4 * i, -1.0, -3.5, cycle, 1, 0, 0.0, 0.0, discharged, 0.0, 0.0,
            t_cell, 24.0)


def test_monitor_reads_only_new_rows_while_the_writer_appends(tmp_path):
    path = tmp_path / "live.h5"
    monitor = RunMonitor(path, max_buckets=64, recent_rows=50)
    assert monitor.refresh() == 0 and not monitor.opened and "waiting" in monitor.title()
    writer = RunWriter(path, {"protocol": "live_test", "status": "running"}, batch_rows=100,
                       flush_interval_s=1e9)
    writer.event(0.0, "step_start", 1, "Discharge at 1 A until 2.5 V")
    for i in range(250):
        writer.append_sample_row(_row(i, discharged=i / 3600))
    assert monitor.refresh() == 200  # two flushed batches; the 50 queued rows are not in the file yet
    assert monitor.refresh() == 0
    for i in range(250, 1000):
        writer.append_sample_row(_row(i, cycle=1 + i // 500, discharged=(i % 500) / 3600))
    writer.event(950.0, "safety_trip", 1, "cell over temperature", {"rule": "temperature_max"})
    assert monitor.refresh() == 800  # rows 200..999, read once
    assert monitor.series["voltage_v"].rows == 1000
    assert monitor.step_text == "Discharge at 1 A until 2.5 V" and monitor.cycle == 2
    assert [m.kind for m in monitor.markers] == ["safety_trip"] and monitor.markers[0].time_s == 950.0
    assert monitor.discharge_ah[1] == pytest.approx(499 / 3600) and monitor.discharge_ah[2] == pytest.approx(499 / 3600)
    assert monitor.last["voltage_v"] == pytest.approx(3.5 + 0.0999) and monitor.status == "running"
    assert "live_test [running]" in monitor.title() and "cycle 2" in monitor.title()
    writer.close()
    from bench.runfile.writer import set_final_attributes

    set_final_attributes(path, {"status": "completed"})
    monitor.refresh()
    assert monitor.finished and monitor.status == "completed"


def test_monitor_fills_in_a_spectrum_whose_points_arrive_later(tmp_path):
    path = tmp_path / "eis.h5"
    monitor = RunMonitor(path, max_spectra=2)
    with RunWriter(path, {"protocol": "eis", "status": "running"}) as writer:
        for spectrum in range(3):
            writer.append("eis/spectra", (spectrum, 10.0 * spectrum, 1, 1, 25.0, 0.5, 0.005, "galvanostatic"))
            writer.append("eis/points", (spectrum, 1000.0, 0.02, -0.001), flush=True)
            monitor.refresh()
            writer.append("eis/points", (spectrum, 1.0, 0.03 + 0.001 * spectrum, -0.004))
            monitor.refresh()
    assert [s.index for s in monitor.spectra] == [1, 2]  # bounded: the newest two
    assert monitor.spectra[-1].real_ohm.tolist() == [0.02, 0.032]
    assert monitor.spectra[-1].frequency_hz.tolist() == [1000.0, 1.0]


# -- the view: PNG, live window, redraw ----------------------------------------------------------
@pytest.fixture(scope="module")
def cycled_run(tmp_path_factory):
    """Two charge/discharge cycles on the simulated bench (10 s sampling)."""
    from bench.engine.runner import execute
    from bench.simulated.builtin_bench import build_sim_bench
    from protocols.loader import parse_protocol

    path = tmp_path_factory.mktemp("plot") / "cycles.h5"
    protocol = parse_protocol(
        "name: two_cycles\ncell: {capacity_ah: 5, voltage_max_v: 4.2, voltage_min_v: 2.5, current_max_a: 7}\n"
        "sampling: {period_s: 10}\nsteps:\n  - Rest for 10 minutes\n"
        "  - repeat: 2\n    steps:\n      - Discharge at 5 A until 3.0 V\n      - Rest for 10 minutes\n"
        "      - Charge at 2.5 A until 4.1 V\n", file="two_cycles.yaml")
    bench = build_sim_bench("nmc_21700", soc=0.6)
    try:
        execute(protocol, bench, path)
    finally:
        bench.close()
    return path


def _image_stats(png):
    from pyqtgraph.Qt import QtGui

    from bench.plot.render import qt_app

    qt_app()
    image = QtGui.QImage(str(png)).convertToFormat(QtGui.QImage.Format.Format_RGB888)
    ptr = image.constBits()
    raw = np.frombuffer(ptr, dtype=np.uint8, count=image.sizeInBytes()).reshape(image.height(), image.bytesPerLine())
    pixels = raw[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()  # own the memory
    return image.width(), image.height(), pixels


def _curve_pixels(pixels):
    """Pixels of each time curve's hue inside its plot (left column: V top, I middle, T bottom)."""
    h, w, _ = pixels.shape
    left = pixels[:, : int(0.6 * w)].astype(int)

    def band(top, bottom):
        part = left[int(top * h): int(bottom * h)].reshape(-1, 3)
        return part[:, 0], part[:, 1], part[:, 2]

    r, g, b = band(0.06, 0.33)
    blue = int((b > r + 50).sum())
    r, g, b = band(0.38, 0.62)
    red = int(((r > g + 50) & (abs(g - b) < 25)).sum())
    r, g, b = band(0.70, 0.95)
    orange = int(((r > b + 80) & (g > b + 30)).sum())
    return {"voltage": blue, "current": red, "temperature": orange}


def test_png_of_a_real_run_is_not_blank(cycled_run, tmp_path):
    from bench.plot.render import render_png

    png = render_png(cycled_run, tmp_path / "view.png", 1200, 800)
    width, height, pixels = _image_stats(png)
    assert (width, height) == (1200, 800)
    flat = pixels.reshape(-1, 3)
    assert flat.std() > 20  # not a blank canvas
    assert len({tuple(c) for c in np.unique(flat[::7], axis=0)}) > 20  # many colours
    drawn = _curve_pixels(pixels)
    assert min(drawn.values()) > 300, drawn  # every time curve was drawn, not just axes
    # the same view of a run without samples has axes and text but no curves
    empty = tmp_path / "empty.h5"
    RunWriter(empty, {"protocol": "empty", "status": "running"}).close()
    _, _, blank = _image_stats(render_png(empty, tmp_path / "empty.png", 1200, 800))
    assert max(_curve_pixels(blank).values()) < 100  # (the legend swatch is orange too)


def test_bench_plot_png_cli_and_errors(cycled_run, tmp_path, capsys, monkeypatch):
    out = tmp_path / "cli.png"
    assert main(["plot", str(cycled_run), "--png", str(out), "--width", "800", "--height", "600"]) == 0
    assert out.stat().st_size > 10_000
    capsys.readouterr()
    assert main(["plot", str(tmp_path / "none.h5"), "--png", str(out)]) == 2
    assert capsys.readouterr().err.strip() == f"bench: error: {tmp_path / 'none.h5'}: no such run file"
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert main(["plot", str(cycled_run)]) == 2  # a window needs a display
    assert "use --png FILE" in capsys.readouterr().err


def test_live_window_follows_the_file_and_stops_when_the_run_ends(tmp_path):
    from bench.plot.live import LiveWindow
    from bench.plot.render import qt_app

    qt_app()
    path = tmp_path / "growing.h5"
    window = LiveWindow(path, interval_ms=50)
    try:
        assert window.timer.isActive() and "waiting" in window.view.title.text
        writer = RunWriter(path, {"protocol": "growing", "status": "running"}, batch_rows=10, flush_interval_s=1e9)
        for i in range(35):
            writer.append_sample_row(_row(i))
        window.tick()
        assert len(window.view.curves["voltage_v"].getData()[0]) == 30
        for i in range(35, 80):
            writer.append_sample_row(_row(i))
        window.tick()
        assert len(window.view.curves["voltage_v"].getData()[0]) == 80 and window.timer.isActive()
        writer.close()
        from bench.runfile.writer import set_final_attributes

        set_final_attributes(path, {"status": "safety_trip"})
        window.tick()
        assert not window.timer.isActive() and window.view.windowTitle().endswith("(safety_trip)")
    finally:
        window.timer.stop()
        window.view.close()


def test_live_plot_is_not_started_without_a_display(monkeypatch, tmp_path, caplog):
    from bench.plot.live import display_available, start_live_plot

    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert not display_available()
    assert start_live_plot(tmp_path / "x.h5") is None
    assert "no display" in caplog.text


def test_redraw_measurement_reports_bounded_points():
    from bench.plot.render import measure_redraw

    details = measure_redraw(50_000, repeats=2, width=800, height=500, details=True)
    assert details["points_drawn"] <= 2 * (2048 + 1) + 4096
    assert details["redraw_ms"] > 0 and math.isfinite(details["redraw_ms"])


def test_nyquist_panel_draws_the_spectra(tmp_path):
    from bench.plot.render import render_png

    path = tmp_path / "eis.h5"
    freqs = np.logspace(3, -1, 21)
    with RunWriter(path, {"protocol": "eis", "status": "completed"}) as writer:
        writer.append_sample_row(_row(0))
        for spectrum, (r0, rct) in enumerate([(0.010, 0.006), (0.030, 0.290)]):
            w = 2 * np.pi * freqs
            z = r0 + rct / (1 + 1j * w * 0.05)  # an RC arc
            writer.append("eis/spectra", (spectrum, 100.0 * spectrum, 1, 1, 25.0 - 45 * spectrum, 1.0, 0.01, "potentiostatic"))
            for f, zi in zip(freqs, z, strict=True):
                writer.append("eis/points", (spectrum, f, zi.real, zi.imag), flush=False)
    _, _, pixels = _image_stats(render_png(path, tmp_path / "eis.png", 1200, 800))
    h, w, _ = pixels.shape
    right = pixels[int(0.40 * h):, int(0.62 * w):].astype(int).reshape(-1, 3)
    saturated = (right.max(axis=1) - right.min(axis=1)) > 80  # coloured, not grey/black/white
    assert saturated.sum() > 200
    empty = tmp_path / "noeis.h5"
    RunWriter(empty, {"protocol": "x", "status": "completed"}).close()
    _, _, blank = _image_stats(render_png(empty, tmp_path / "noeis.png", 1200, 800))
    right = blank[int(0.40 * h):, int(0.62 * w):].astype(int).reshape(-1, 3)
    assert ((right.max(axis=1) - right.min(axis=1)) > 80).sum() < 20


def test_a_killed_run_still_plots(tmp_path):
    from bench.perf.crash import run_self_kill
    from bench.plot.render import render_png

    killed = tmp_path / "killed.h5"
    run_self_kill(killed, batch_rows=100, kill_after_batches=5, unflushed_rows=7)
    monitor = RunMonitor(killed)
    assert monitor.refresh() == 500 and monitor.status == "running"
    _, _, pixels = _image_stats(render_png(killed, tmp_path / "killed.png", 1200, 800))
    assert _curve_pixels(pixels)["voltage"] > 300
