"""Plots a battery engineer accepts (issue 28): every figure of every shipped protocol's report is
written as PNG and SVG, labelled ``Quantity / unit``, not blank, with no empty panel; cycle axes
tick on whole numbers, capacity axes start at 0, Nyquist plots have equal scales and frequency
markers, trip lines name their rule, and the live window fits a 1280 x 800 screen.

Each shipped protocol runs once per session, shortened with ``--set`` (virtual time), through the
CLI as a user runs it (tests/bench/shipped_runs.py); then ``bench report --html`` renders its figures.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyqtgraph")

from bench.cli import main  # noqa: E402
from bench.plot.ticks import capacity_range, decade_points, integer_ticks  # noqa: E402
from tests.bench.shipped_runs import SHORT_RUNS  # noqa: E402

#: Axis-label text that is not ``Quantity / unit``: "Voltage (V)", "Current (mA)".
PAREN_UNIT = re.compile(r"[A-Za-z]\s\((?:V|A|mA|Ah|Wh|°C|K|s|h|min|Ω|mΩ|Hz)\)")


def _pixels_of(png: Path, rgb: tuple[int, int, int], tolerance: int = 30) -> int:
    """How many pixels of ``png`` are within ``tolerance`` of the colour ``rgb``."""
    from pyqtgraph.Qt import QtGui

    image = QtGui.QImage(str(png)).convertToFormat(QtGui.QImage.Format.Format_RGB32)
    raw = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.sizeInBytes()).reshape(-1, 4)
    bgr = np.array(rgb[::-1], dtype=int)
    return int(np.sum(np.all(np.abs(raw[:, :3].astype(int) - bgr) <= tolerance, axis=1)))


def _not_blank(png: Path) -> bool:
    from pyqtgraph.Qt import QtGui

    from bench.plot.render import qt_app

    qt_app(offscreen=True)
    image = QtGui.QImage(str(png))
    assert not image.isNull(), png
    image = image.convertToFormat(QtGui.QImage.Format.Format_RGB32)
    raw = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.sizeInBytes())
    colours = np.unique(raw.reshape(-1, 4)[:, :3], axis=0)
    return len(colours) > 8  # more than the background, the grid and an axis


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SHORT_RUNS))
def test_every_report_figure_is_png_and_svg_labelled_and_not_blank(name: str, tmp_path: Path, shipped_runs) -> None:
    run = shipped_runs.get(name)
    html_dir = tmp_path / "html"
    assert main(["report", str(run), "--html", str(html_dir)]) == 0
    pngs = sorted(html_dir.glob("*.png"))
    assert any(p.name == "overview.png" for p in pngs), pngs
    page = (html_dir / "index.html").read_text()
    for png in pngs:
        svg = png.with_suffix(".svg")
        assert svg.exists(), f"{name}: {png.name} has no SVG beside it"
        assert png.name in page
        assert _not_blank(png), f"{name}: {png.name} is blank"
        text = " ".join(re.findall(r">([^<>]+)</text>", svg.read_text()))
        assert " / " in text, f"{name}: {svg.name} has no 'Quantity / unit' axis label"
        assert not PAREN_UNIT.search(text), f"{name}: {svg.name} mixes unit notation: {PAREN_UNIT.search(text)}"
    if (html_dir / "nyquist.png").exists():  # the spectra are inside the view, not only in the legend
        assert _pixels_of(html_dir / "nyquist.png", (31, 119, 180)) > 300, f"{name}: Nyquist points not drawn"
    overview = (html_dir / "overview.svg").read_text()
    for label in ("Voltage / V", "Current / A", "Temperature / °C"):
        assert label in overview, (name, label)


@pytest.mark.slow
def test_overview_shows_only_panels_with_data_and_names_the_trip_rule(shipped_runs) -> None:
    from bench.plot.data import RunMonitor
    from bench.plot.render import _dispose, _hidden_view, qt_app

    qt_app(offscreen=True)
    tripped = shipped_runs.get("puncture_safe_cycling")
    monitor = RunMonitor(tripped)
    monitor.refresh()
    view = _hidden_view(1400, 900)
    try:
        view.show_monitor(monitor)
        assert "nyquist" not in view.panels_shown  # no EIS in this run: no empty Nyquist panel
        trips = [m for m in monitor.markers if m.kind == "safety_trip"]
        assert trips and all(m.label.startswith("trip: ") and len(m.label) > 6 for m in trips), monitor.markers
    finally:
        _dispose(view)
    with_eis = shipped_runs.get("cold_capacity_eis")
    monitor = RunMonitor(with_eis)
    monitor.refresh()
    view = _hidden_view(1400, 900)
    try:
        view.show_monitor(monitor)
        assert {"nyquist", "capacity"} <= view.panels_shown
        assert view.nyquist_plot.getViewBox().state["aspectLocked"] == 1.0  # equal scales
        (low, _high) = view.capacity_plot.getViewBox().viewRange()[1]
        assert low <= 0.0  # the capacity axis starts at 0
    finally:
        _dispose(view)


def test_cycle_ticks_are_whole_numbers_and_capacity_axes_start_at_zero() -> None:
    for low, high, pixels in ((0.5, 1.5, 400), (0.6, 7.4, 300), (-0.2, 200.3, 500), (3.9, 4.1, 900)):
        ticks = integer_ticks(low, high, pixels)
        assert all(isinstance(t, int) for t in ticks)
        assert all(low <= t <= high for t in ticks)
        assert len(ticks) <= max(1, pixels / 60) + 1
    assert integer_ticks(0.6, 1.4, 400) == [1]
    low, high = capacity_range([4.594, 4.602])
    assert low <= 0.0 and high > 4.602
    assert capacity_range([]) is None


def test_nyquist_frequency_markers_fall_on_decades() -> None:
    f = np.geomspace(1000.0, 0.1, 21)
    marks = decade_points(f)
    assert [d for _i, d in marks] == [1000.0, 100.0, 10.0, 1.0, 0.1]
    assert all(abs(f[i] - d) / d < 0.05 for i, d in marks)


def test_live_window_fits_a_1280_by_800_screen() -> None:
    from bench.plot.live import MINIMUM_SIZE, window_size

    width, height = window_size((1280, 800))
    assert width <= 1280 and height <= 800 - 40
    assert MINIMUM_SIZE[0] <= 1280 and MINIMUM_SIZE[1] <= 800
    assert window_size((3840, 2160)) == (1400, 900)


def test_study_chart_has_axes_ticks_and_values() -> None:
    from bench.optimize.study_report import _svg_by_batch

    report = {
        "proposals": [{"batch": b, "status": "scored", "value": v} for b, v in ((1, 0.41), (1, 0.52), (2, 0.38), (3, 0.35))],
        "batches": [{"batch": 1, "best_so_far": 0.41}, {"batch": 2, "best_so_far": 0.38}, {"batch": 3, "best_so_far": 0.35}],
        "conditions": {"objective": "fade_pct", "objective_unit": "%"},
    }
    svg = _svg_by_batch(report)
    texts = re.findall(r">([^<>]+)</text>", svg)
    assert "Batch / 1" in texts and "fade_pct / %" in texts
    assert {"1", "2", "3"} <= set(texts)  # batch ticks
    numbers = [float(t) for t in texts if re.fullmatch(r"-?\d+(\.\d+)?", t)]
    assert any(0.3 <= n <= 0.55 for n in numbers if n not in (1.0, 2.0, 3.0))  # objective tick values
