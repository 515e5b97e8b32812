"""The run view (pyqtgraph): V and I, cell and chamber temperature vs time, capacity per cycle,
Nyquist plot of the impedance spectra. Shared by the live window and the PNG renderer.

Draws what a :class:`~bench.plot.data.RunMonitor` holds; the monitor has already decimated the
curves, so a redraw costs the same after an hour or a month of data.
"""

from __future__ import annotations

import pyqtgraph as pg
from pyqtgraph.Qt import QtCore

from bench.analysis.cycles import cycle_flags, discharge_is_result
from bench.plot.axes import IntegerAxis, capacity_range, label_frequencies
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


#: Colour of each temperature curve's line in the panel title (its legend: a legend box inside
#: the panel covered the data).
_TEMPERATURE_TITLE = ("<span style='color:#ff7f0e'>&#8212;</span> cell surface&nbsp;&nbsp;&nbsp;"
                      "<span style='color:#2ca02c'>- -</span> chamber air")


class RunView(pg.GraphicsLayoutWidget):
    """The time panels (V, I, T) and a title line; the capacity-per-cycle and Nyquist panels join
    the layout only once the run has a cycle result or a spectrum to show (no empty panel).
    :meth:`show_monitor` draws a monitor's present state."""

    def __init__(self, *, antialias: bool = True) -> None:
        configure_pyqtgraph()
        super().__init__()
        self.setWindowTitle("CellBench run")
        self.title = self.addLabel("", row=0, col=0, colspan=2, size="11pt")
        self.voltage_plot = self.addPlot(row=1, col=0)
        self.current_plot = self.addPlot(row=2, col=0)
        self.temperature_plot = self.addPlot(row=3, col=0)
        self.capacity_plot = pg.PlotItem(axisItems={"bottom": IntegerAxis("bottom")})
        self.nyquist_plot = pg.PlotItem()
        self.voltage_plot.setLabel("left", "Voltage / V")
        self.current_plot.setLabel("left", "Current / A")
        self.temperature_plot.setLabel("left", "Temperature / °C")
        self.temperature_plot.setTitle(_TEMPERATURE_TITLE, size="9pt")
        self.capacity_plot.setLabel("left", "Capacity / Ah")
        self.capacity_plot.setLabel("bottom", "Cycle / 1")
        self.nyquist_plot.setLabel("left", "-Z'' / mΩ")
        self.nyquist_plot.setLabel("bottom", "Z' / mΩ")
        self.nyquist_plot.setAspectLocked(True)  # equal scales: a semicircle looks like one
        self.nyquist_plot.setTitle("Impedance (Nyquist)")
        self._nyquist_legend = self.nyquist_plot.addLegend(offset=(10, 10))
        self._nyquist_legend.setLabelTextColor("k")
        self.capacity_plot.setTitle("Capacity per cycle")
        self.capacity_plot.enableAutoRange(axis="y", enable=False)
        for plot in (self.current_plot, self.temperature_plot):
            plot.setXLink(self.voltage_plot)
        for plot in (self.voltage_plot, self.current_plot, self.temperature_plot, self.capacity_plot,
                     self.nyquist_plot):
            plot.showGrid(x=True, y=True, alpha=0.25)
        self.curves = {
            "voltage_v": self.voltage_plot.plot(pen=pg.mkPen(COLORS["voltage_v"], width=1), antialias=antialias),
            "current_a": self.current_plot.plot(pen=pg.mkPen(COLORS["current_a"], width=1), antialias=antialias),
        }
        self.curves["temperature_cell_c"] = self.temperature_plot.plot(
            pen=pg.mkPen(COLORS["temperature_cell_c"], width=1), antialias=antialias)
        self.curves["temperature_chamber_c"] = self.temperature_plot.plot(
            pen=pg.mkPen(COLORS["temperature_chamber_c"], width=1, style=QtCore.Qt.PenStyle.DashLine),
            antialias=antialias)
        cap_legend = self.capacity_plot.addLegend(offset=(-10, -10))
        self.discharge_curve = self.capacity_plot.plot(
            pen=pg.mkPen(COLORS["discharge"], width=1), symbol="o", symbolSize=7,
            symbolBrush=COLORS["discharge"], name="discharge")
        self.charge_curve = self.capacity_plot.plot(
            pen=pg.mkPen(COLORS["charge"], width=1), symbol="t", symbolSize=7,
            symbolBrush=COLORS["charge"], name="charge")
        cap_legend.setLabelTextColor("k")
        self._spectrum_items: list[pg.GraphicsObject] = []
        self._spectra_shown: list[tuple[int, int]] | None = None
        self._marker_items: list[pg.InfiniteLine] = []
        self._markers_drawn = -1
        self._unit = ""
        self.panels_shown: set[str] = {"voltage", "current", "temperature"}

    def _show_panel(self, name: str) -> None:
        """Add the capacity (``"capacity"``) or Nyquist (``"nyquist"``) panel to the layout once."""
        if name in self.panels_shown:
            return
        if name == "capacity":
            self.addItem(self.capacity_plot, row=1, col=1)
        else:
            self.addItem(self.nyquist_plot, row=2, col=1, rowspan=2)
        self.panels_shown.add(name)
        self.ci.layout.setColumnStretchFactor(0, 3)
        self.ci.layout.setColumnStretchFactor(1, 2)

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
        # a discharge capacity is a result whether or not the charge before it was full; a charge
        # (and its CE) only in a closed cycle; rest-only cycles are nothing
        cycles = sorted(set(monitor.discharge_ah) | set(monitor.charge_ah))
        discharge_cycles = [c for c in cycles if discharge_is_result(monitor.discharge_ah.get(c, 0.0), rated)]
        charge_cycles = [c for c in cycles if monitor.charge_ah.get(c, 0.0) > 1e-6
                         and not cycle_flags(monitor.charge_ah.get(c, 0.0), monitor.discharge_ah.get(c, 0.0), rated)]
        discharge = [monitor.discharge_ah[c] for c in discharge_cycles]
        charge = [monitor.charge_ah[c] for c in charge_cycles]
        self.discharge_curve.setData(discharge_cycles, discharge)
        self.charge_curve.setData(charge_cycles, charge)
        cycles = discharge_cycles + charge_cycles
        y_range = capacity_range(discharge + charge)
        if cycles and y_range is not None:
            self._show_panel("capacity")
            self.capacity_plot.setYRange(*y_range, padding=0)
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
        if spectra:
            self._show_panel("nyquist")
        for n, spectrum in enumerate(spectra):
            color = pg.intColor(spectrum.index, hues=9, values=1, maxValue=220)
            label = f"#{spectrum.index}: {spectrum.temperature_c:.0f} °C, {spectrum.time_s / 3600:.1f} h"
            real, minus_imag = spectrum.real_ohm * 1e3, -spectrum.imag_ohm * 1e3
            self._spectrum_items.append(self.nyquist_plot.plot(
                real, minus_imag, symbol="o", symbolSize=5, name=label,
                pen=pg.mkPen(color, width=2 if n == len(spectra) - 1 else 1), symbolBrush=color, symbolPen=color))
            if n == len(spectra) - 1:  # frequency markers on the newest spectrum
                self._spectrum_items += label_frequencies(self.nyquist_plot, real, minus_imag, spectrum.frequency_hz)

    def _draw_markers(self, monitor: RunMonitor, scale: float) -> None:
        if len(monitor.markers) + len(monitor.plating) == self._markers_drawn:
            return
        for line in self._marker_items:
            line.getViewBox().removeItem(line) if line.getViewBox() is not None else None
        self._marker_items.clear()
        pen = pg.mkPen(COLORS["marker"], width=2, style=QtCore.Qt.PenStyle.DashLine)
        for marker in monitor.markers:  # labelled with the rule that tripped (or the event)
            for plot in (self.voltage_plot, self.current_plot, self.temperature_plot):
                line = pg.InfiniteLine(marker.time_s / scale, angle=90, pen=pen, label=marker.label or marker.kind,
                                       labelOpts={"position": 0.85, "color": COLORS["marker"], "anchors": [(1, 0), (1, 0)]})
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
