"""The run view (pyqtgraph): V and I, cell and chamber temperature vs time, capacity per cycle,
Nyquist plot of the impedance spectra. Shared by the live window and the PNG renderer.

Draws what a :class:`~bench.plot.data.RunMonitor` holds; the monitor has already decimated the
curves, so a redraw costs the same after an hour or a month of data.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore

from bench.analysis.cycles import cycle_flags
from bench.plot.data import RunMonitor

COLORS = {
    "voltage_v": (31, 119, 180),
    "current_a": (214, 39, 40),
    "temperature_cell_c": (255, 127, 14),
    "temperature_chamber_c": (44, 160, 44),
    "charge": (31, 119, 180),
    "discharge": (214, 39, 40),
    "marker": (200, 0, 0),
}


def configure_pyqtgraph() -> None:
    """White background, black text; antialiasing only on the time curves (set per curve: without
    it Qt's raster engine leaves pixel gaps in steep 1 px polylines)."""
    pg.setConfigOptions(background="w", foreground="k", antialias=False)


def _time_unit(seconds: float) -> tuple[str, float]:
    if seconds > 3 * 3600:
        return "h", 3600.0
    if seconds > 300:
        return "min", 60.0
    return "s", 1.0


class RunView(pg.GraphicsLayoutWidget):
    """Five plots and a title line; :meth:`show_monitor` draws a monitor's present state."""

    def __init__(self, *, antialias: bool = True) -> None:
        configure_pyqtgraph()
        super().__init__()
        self.setWindowTitle("CellBench run")
        self.title = self.addLabel("", row=0, col=0, colspan=2, size="11pt")
        self.voltage_plot = self.addPlot(row=1, col=0)
        self.current_plot = self.addPlot(row=2, col=0)
        self.temperature_plot = self.addPlot(row=3, col=0)
        self.capacity_plot = self.addPlot(row=1, col=1)
        self.nyquist_plot = self.addPlot(row=2, col=1, rowspan=2)
        self.ci.layout.setColumnStretchFactor(0, 3)
        self.ci.layout.setColumnStretchFactor(1, 2)
        self.voltage_plot.setLabel("left", "Voltage", units="V")
        self.current_plot.setLabel("left", "Current", units="A")
        self.temperature_plot.setLabel("left", "Temperature / °C")
        self.capacity_plot.setLabel("left", "Capacity / Ah")
        self.capacity_plot.setLabel("bottom", "Cycle")
        self.nyquist_plot.setLabel("left", "-Z'' / mΩ")
        self.nyquist_plot.setLabel("bottom", "Z' / mΩ")
        self.nyquist_plot.setAspectLocked(True)
        self.nyquist_plot.setTitle("Impedance (Nyquist)")
        self._nyquist_legend = self.nyquist_plot.addLegend(offset=(10, 10))
        self._nyquist_legend.setLabelTextColor("k")
        self.capacity_plot.setTitle("Capacity per cycle")
        for plot in (self.current_plot, self.temperature_plot):
            plot.setXLink(self.voltage_plot)
        for plot in (self.voltage_plot, self.current_plot, self.temperature_plot, self.capacity_plot,
                     self.nyquist_plot):
            plot.showGrid(x=True, y=True, alpha=0.25)
        self.curves = {
            "voltage_v": self.voltage_plot.plot(pen=pg.mkPen(COLORS["voltage_v"], width=1), antialias=antialias),
            "current_a": self.current_plot.plot(pen=pg.mkPen(COLORS["current_a"], width=1), antialias=antialias),
        }
        legend = self.temperature_plot.addLegend(offset=(-10, 10))
        self.curves["temperature_cell_c"] = self.temperature_plot.plot(
            pen=pg.mkPen(COLORS["temperature_cell_c"], width=1), name="cell surface", antialias=antialias)
        self.curves["temperature_chamber_c"] = self.temperature_plot.plot(
            pen=pg.mkPen(COLORS["temperature_chamber_c"], width=1, style=QtCore.Qt.PenStyle.DashLine),
            name="chamber air", antialias=antialias)
        legend.setLabelTextColor("k")
        cap_legend = self.capacity_plot.addLegend(offset=(-10, 10))
        self.discharge_curve = self.capacity_plot.plot(
            pen=pg.mkPen(COLORS["discharge"], width=1), symbol="o", symbolSize=7,
            symbolBrush=COLORS["discharge"], name="discharge")
        self.charge_curve = self.capacity_plot.plot(
            pen=pg.mkPen(COLORS["charge"], width=1), symbol="t", symbolSize=7,
            symbolBrush=COLORS["charge"], name="charge")
        cap_legend.setLabelTextColor("k")
        self._no_spectra = pg.TextItem("no impedance spectra in this run", color=(120, 120, 120), anchor=(0.5, 0.5))
        self.nyquist_plot.addItem(self._no_spectra)
        self._no_spectra.setPos(0.5, 0.5)
        self._spectrum_items: list[pg.PlotDataItem] = []
        self._spectra_shown: list[tuple[int, int]] | None = None
        self._marker_items: list[pg.InfiniteLine] = []
        self._markers_drawn = -1
        self._unit = ""

    def show_monitor(self, monitor: RunMonitor) -> None:
        """Redraw from the monitor (cheap: bounded number of points per curve)."""
        self.title.setText(monitor.title(), color="#c00000" if monitor.markers else "#000000")
        unit, scale = _time_unit(monitor.test_time_s)
        if unit != self._unit:
            self._unit = unit
            for plot in (self.voltage_plot, self.current_plot, self.temperature_plot):
                plot.setLabel("bottom", f"Test time / {unit}")
            self._markers_drawn = -1
        for key, curve in self.curves.items():
            x, y = monitor.series[key].points()
            curve.setData(x / scale, y, connect="finite")
        cell = monitor.attrs.get("cell")
        rated = cell.get("capacity_ah") if isinstance(cell, dict) else None
        # skip rest-only cycles, and flagged ones (CE > 1, above the rated capacity): they are not results
        cycles = [c for c in sorted(set(monitor.discharge_ah) | set(monitor.charge_ah))
                  if max(monitor.discharge_ah.get(c, 0.0), monitor.charge_ah.get(c, 0.0)) > 1e-6
                  and not cycle_flags(monitor.charge_ah.get(c, 0.0), monitor.discharge_ah.get(c, 0.0), rated)]
        self.discharge_curve.setData(cycles, [monitor.discharge_ah.get(c, np.nan) for c in cycles])
        self.charge_curve.setData(cycles, [monitor.charge_ah.get(c, np.nan) for c in cycles])
        self._draw_spectra(monitor)
        self._draw_markers(monitor, scale)

    def _draw_spectra(self, monitor: RunMonitor) -> None:
        spectra = list(monitor.spectra)
        shown = [(s.index, s.real_ohm.size) for s in spectra]
        if shown == self._spectra_shown:
            return
        self._spectra_shown = shown
        for item in self._spectrum_items:
            self.nyquist_plot.removeItem(item)
        self._spectrum_items.clear()
        self._nyquist_legend.clear()
        for n, spectrum in enumerate(spectra):
            color = pg.intColor(spectrum.index, hues=9, values=1, maxValue=220)
            label = f"#{spectrum.index}: {spectrum.temperature_c:.0f} °C, {spectrum.time_s / 3600:.1f} h"
            self._spectrum_items.append(self.nyquist_plot.plot(
                spectrum.real_ohm * 1e3, -spectrum.imag_ohm * 1e3, symbol="o", symbolSize=5, name=label,
                pen=pg.mkPen(color, width=2 if n == len(spectra) - 1 else 1), symbolBrush=color, symbolPen=color))
        self._no_spectra.setVisible(not spectra)

    def _draw_markers(self, monitor: RunMonitor, scale: float) -> None:
        if len(monitor.markers) + len(monitor.plating) == self._markers_drawn:
            return
        for line in self._marker_items:
            line.getViewBox().removeItem(line) if line.getViewBox() is not None else None
        self._marker_items.clear()
        pen = pg.mkPen(COLORS["marker"], width=2, style=QtCore.Qt.PenStyle.DashLine)
        for marker in monitor.markers:
            for plot in (self.voltage_plot, self.current_plot, self.temperature_plot):
                line = pg.InfiniteLine(marker.time_s / scale, angle=90, pen=pen)
                plot.addItem(line)
                self._marker_items.append(line)
        plating_pen = pg.mkPen(COLORS["charge"], width=1, style=QtCore.Qt.PenStyle.DotLine)
        for marker in monitor.plating:  # charges flagged for plating: on the charge panels (V and I)
            for plot in (self.voltage_plot, self.current_plot):
                line = pg.InfiniteLine(marker.time_s / scale, angle=90, pen=plating_pen,
                                       label="Li?", labelOpts={"position": 0.9, "color": COLORS["charge"]})
                plot.addItem(line)
                self._marker_items.append(line)
        self._markers_drawn = len(monitor.markers) + len(monitor.plating)
