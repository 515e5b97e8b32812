"""Render the run view to a PNG offscreen (``bench plot RUN.h5 --png FILE``), and measure redraws."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np

from bench.runfile.reader import RunFile, RunFileError


def qt_app(offscreen: bool = True) -> Any:
    """The process's QApplication; a new one uses the offscreen platform when ``offscreen``."""
    if offscreen:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from pyqtgraph.Qt import QtWidgets

    app = QtWidgets.QApplication.instance()
    if app is None:
        app = QtWidgets.QApplication(["cellbench-plot"])
    return app


def _hidden_view(width: int, height: int, antialias: bool = True) -> Any:
    from pyqtgraph.Qt import QtCore

    from bench.plot.view import RunView

    view = RunView(antialias=antialias)
    view.setAttribute(QtCore.Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    view.resize(width, height)
    view.show()  # lays the plots out; never on screen
    return view


def _dispose(view: Any) -> None:
    """Delete the widget now (not at interpreter exit, where Qt teardown order can crash)."""
    view.close()
    try:
        import shiboken6

        shiboken6.delete(view)
    except (ImportError, RuntimeError):
        view.deleteLater()


def _paint(view: Any, image: Any) -> None:
    """Paint the whole view into ``image`` (what a repaint of the window costs)."""
    from pyqtgraph.Qt import QtGui

    painter = QtGui.QPainter(image)
    try:
        view.render(painter)
    finally:
        painter.end()


def _image(width: int, height: int) -> Any:
    from pyqtgraph.Qt import QtGui

    image = QtGui.QImage(width, height, QtGui.QImage.Format.Format_RGB32)
    image.fill(QtGui.QColor("white"))
    return image


def render_png(run_path: str | Path, png_path: str | Path, width: int = 1600, height: int = 1000,
               *, svg: bool = False) -> Path:
    """Draw the run view of ``run_path`` (as it is now, even mid-run) into ``png_path`` (and, with
    ``svg``, the same figure as vector graphics beside it: ``png_path`` with ``.svg``).

    Raises :class:`RunFileError` naming the file when it is missing or not a run file, and
    OSError when the PNG cannot be written.
    """
    from bench.plot.data import RunMonitor

    with RunFile(run_path):  # validates: one-line error naming the file
        pass
    monitor = RunMonitor(run_path)
    monitor.refresh()
    if not monitor.opened:
        raise RunFileError(f"{run_path}: cannot be read now ({monitor.error})")
    if monitor.finished:
        monitor.plating = plating_markers(run_path)
    app = qt_app(offscreen=True)
    view = _hidden_view(width, height)
    try:
        view.show_monitor(monitor)
        app.processEvents()
        png_path = Path(png_path)
        png_path.parent.mkdir(parents=True, exist_ok=True)
        image = _image(width, height)
        _paint(view, image)
        if not image.save(str(png_path), "PNG"):
            raise OSError(f"{png_path}: could not write the PNG")
        if svg:
            save_svg(view, png_path.with_suffix(".svg"))
    finally:
        _dispose(view)
    return png_path


def save_svg(widget: Any, svg_path: Path) -> Path:
    """Paint a laid-out widget (the run view, a plot widget) into an SVG file through Qt's SVG
    generator: text stays text and lines stay lines (for a paper). OSError naming the file when it
    cannot be written."""
    from PySide6.QtCore import QRect, QSize
    from PySide6.QtGui import QPainter
    from PySide6.QtSvg import QSvgGenerator

    svg_path = Path(svg_path)
    if not os.access(svg_path.parent, os.W_OK):
        raise OSError(f"{svg_path}: could not write the SVG (directory not writable)")
    size = widget.size()
    generator = QSvgGenerator()
    generator.setFileName(str(svg_path))
    generator.setSize(QSize(size.width(), size.height()))
    generator.setViewBox(QRect(0, 0, size.width(), size.height()))
    generator.setTitle(svg_path.stem)
    painter = QPainter(generator)
    try:
        widget.render(painter)
    finally:
        painter.end()
    if not svg_path.exists():
        raise OSError(f"{svg_path}: could not write the SVG")
    return svg_path


def plating_markers(run_path: str | Path) -> list:
    """A marker at the start of every charge the plating detector flags (bench.analysis.plating)."""
    from bench.analysis.plating import detect_plating
    from bench.plot.data import Marker

    with RunFile(run_path) as run:
        return [Marker(p["start_time_s"], "plating", f"plating signature after the charge of cycle {p['cycle']}")
                for p in detect_plating(run) if p["plating_flag"]]


def synthetic_cycling(n_points: int, period_s: float = 1.0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``n_points`` samples of a cycling-like signal per curve (V sawtooth with noise, ±I, T)."""
    rng = np.random.default_rng(1)
    t = np.arange(n_points) * period_s
    phase = (t % 36000.0) / 36000.0
    charging = phase < 0.5
    voltage = np.where(charging, 3.0 + 2.4 * phase, 4.2 - 2.4 * (phase - 0.5)) + rng.normal(0, 2e-3, n_points)
    current = np.where(charging, 2.5, -2.5) + rng.normal(0, 5e-3, n_points)
    cell = 25.0 + 3.0 * np.sin(2 * np.pi * phase) + rng.normal(0, 0.05, n_points)
    air = 25.0 + rng.normal(0, 0.02, n_points)
    return {"voltage_v": (t, voltage), "current_a": (t, current), "temperature_cell_c": (t, cell),
            "temperature_chamber_c": (t, air)}


@overload
def measure_redraw(n_points: int = ..., *, repeats: int = ..., width: int = ..., height: int = ...,
                   details: Literal[False] = ..., antialias: bool = ...) -> float: ...
@overload
def measure_redraw(n_points: int = ..., *, repeats: int = ..., width: int = ..., height: int = ...,
                   details: Literal[True], antialias: bool = ...) -> dict[str, float]: ...
def measure_redraw(n_points: int = 1_000_000, *, repeats: int = 15, width: int = 1600, height: int = 1000,
                   details: bool = False, antialias: bool = True) -> float | dict[str, float]:
    """Median time (ms) to redraw the whole run view when every time curve holds ``n_points``
    samples: setData of the decimated curves plus a full paint of the window into an image
    (offscreen; the same painting a visible window does on a repaint).

    With ``details``: a dict with ``redraw_ms`` (median), ``redraw_max_ms``, ``redraw_cpu_ms``
    (median process CPU time, the figure to trust on a loaded machine), ``ingest_ms`` (the
    one-off decimation of the 4 x n_points samples), ``points_drawn`` per curve and
    ``memory_bytes`` held by the four curves.
    """
    from bench.plot.data import RunMonitor

    app = qt_app(offscreen=True)
    monitor = RunMonitor(os.devnull)
    monitor.opened = True
    monitor.attrs = {"protocol": "redraw benchmark", "status": "running"}
    curves = synthetic_cycling(n_points)
    t0 = time.perf_counter()
    for key, (x, y) in curves.items():
        monitor.series[key].extend(x, y)
    ingest_ms = (time.perf_counter() - t0) * 1e3
    monitor.test_time_s = float(curves["voltage_v"][0][-1]) if n_points else 0.0
    view = _hidden_view(width, height, antialias)
    image = _image(width, height)
    try:
        view.show_monitor(monitor)
        _paint(view, image)  # first paint builds caches; not counted
        times = []
        cpu = []
        for _ in range(repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            view.show_monitor(monitor)
            _paint(view, image)
            times.append((time.perf_counter() - start) * 1e3)
            cpu.append((time.process_time() - start_cpu) * 1e3)
        app.processEvents()
    finally:
        _dispose(view)
    redraw = statistics.median(times)
    if not details:
        return redraw
    series = monitor.series["voltage_v"]
    return {
        "n_points": n_points,
        "redraw_ms": round(redraw, 2),
        "redraw_max_ms": round(max(times), 2),
        "redraw_cpu_ms": round(statistics.median(cpu), 2),
        "ingest_ms": round(ingest_ms, 1),
        "points_drawn": len(series.points()[0]),
        "memory_bytes": sum(s.envelope.nbytes + 2 * s.recent.capacity * 8 for s in monitor.series.values()),
    }
