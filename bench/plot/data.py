"""What the live plot shows, read from a run file while it is written (no Qt here).

:class:`RunMonitor` polls the run file: each :meth:`RunMonitor.refresh` opens it as a SWMR
reader, reads only the rows appended since the last call (in chunks), feeds the decimated
curves and per-cycle capacities, and closes it again (so end-of-run attribute updates are seen
and the writer is never held up). Memory is fixed however long the run: curves are
:class:`~bench.plot.decimate.DecimatedSeries`, spectra and events are bounded deques.
"""

from __future__ import annotations

import json
import logging
import math
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from bench.plot.decimate import DecimatedSeries
from bench.runfile.h5open import open_swmr_reader
from bench.runfile.reader import READ_ERRORS, journal_sample_rows

logger = logging.getLogger(__name__)

TIME = "Test Time / s"
#: Curves of the time plots: key -> BDF sample column.
CURVES = {
    "voltage_v": "Voltage / V",
    "current_a": "Current / A",
    "temperature_cell_c": "Surface Temperature T1 / degC",
    "temperature_chamber_c": "Ambient Temperature / degC",
}
CYCLE = "Cycle Count / 1"
CHARGE_AH = "Charging Capacity / Ah"
DISCHARGE_AH = "Discharging Capacity / Ah"


@dataclass
class Spectrum:
    """One impedance spectrum: Z = real + j·imag, Ω, at ``frequency_hz``."""

    index: int
    time_s: float
    cycle: int
    temperature_c: float
    frequency_hz: np.ndarray
    real_ohm: np.ndarray
    imag_ohm: np.ndarray


@dataclass
class Marker:
    """An event worth a vertical line on the time plots (safety trip, interruption).

    ``label`` names it on the plot: a trip's rule (``voltage_limit``), else the event kind."""

    time_s: float
    kind: str
    message: str
    label: str = ""


class RunMonitor:
    """Incremental reader of one run file for plotting.

    ``max_buckets`` / ``recent_rows`` size each curve (see DecimatedSeries); ``chunk_rows``
    bounds one read; ``max_spectra`` spectra and ``max_markers`` markers are kept (newest).
    """

    def __init__(self, path: str | Path, *, max_buckets: int = 2048, recent_rows: int = 4096,
                 chunk_rows: int = 262_144, max_spectra: int = 12, max_markers: int = 50) -> None:
        self.path = Path(path)
        self.chunk_rows = chunk_rows
        self.series = {key: DecimatedSeries(max_buckets, recent_rows) for key in CURVES}
        self.charge_ah: dict[int, float] = {}
        self.discharge_ah: dict[int, float] = {}
        self.spectra: deque[Spectrum] = deque(maxlen=max_spectra)
        self.markers: deque[Marker] = deque(maxlen=max_markers)
        #: Charges the plating detector flagged (filled for a finished run by the static renderer).
        self.plating: list[Marker] = []
        self.attrs: dict[str, object] = {}
        self.rows = 0
        self.test_time_s = 0.0
        self.last: dict[str, float] = {}
        self.cycle = 0
        self.step_text = ""
        self.opened = False
        self.error = ""
        self._events = 0
        self._spectra = 0
        self._points = 0
        self._meta: dict[int, tuple[float, int, float]] = {}
        self._pts: dict[int, list[np.ndarray]] = {}

    # -- state ---------------------------------------------------------------------------------
    @property
    def status(self) -> str:
        """The run's status attribute (``running``, ``completed``, ...; ``""`` before the file opened)."""
        return str(self.attrs.get("status", ""))

    @property
    def finished(self) -> bool:
        """True once the writer set a final status."""
        return self.opened and self.status not in ("", "running")

    def title(self) -> str:
        """One line: protocol, status, step, cycle, test time, last reading."""
        if not self.opened:
            return f"{self.path.name}: waiting for the run file" + (f" ({self.error})" if self.error else "")
        parts = [f"{self.attrs.get('protocol', self.path.stem)} [{self.status or '?'}]"]
        if self.step_text:
            parts.append(self.step_text if len(self.step_text) <= 60 else self.step_text[:57] + "...")
        parts.append(f"cycle {self.cycle}")
        parts.append(f"t = {_duration(self.test_time_s)}")
        if self.last:
            parts.append(f"{self.last.get('voltage_v', math.nan):.3f} V  {self.last.get('current_a', math.nan):+.3f} A")
        return "  |  ".join(parts)

    # -- polling -------------------------------------------------------------------------------
    def refresh(self) -> int:
        """Read what was appended since the last call; returns the number of new sample rows.

        A file that does not exist yet, or that the writer holds in a non-SWMR open for a moment
        (final attributes), is not an error: the next call tries again (``error`` says why).
        """
        try:
            handle = open_swmr_reader(self.path)
        except (OSError, ValueError) as exc:
            self.error = "no file yet" if not self.path.exists() else str(exc).split("(")[0].strip()
            return 0
        try:
            self.opened = True
            self.error = ""
            self.attrs = {key: _decode(value) for key, value in handle.attrs.items()}
            new = self._read_samples(handle)
            self._read_events(handle)
            self._read_spectra(handle)
            return new
        except READ_ERRORS as exc:  # a damaged file: say so, show what was read
            self.error = f"damaged run file: {(str(exc).splitlines() or [type(exc).__name__])[0]}"
            return 0
        finally:
            handle.close()

    def _read_samples(self, handle: h5py.File) -> int:
        if "samples" not in handle:
            return 0
        dataset = handle["samples"]
        dataset.refresh()
        total = dataset.shape[0]
        trusted = journal_sample_rows(handle)  # rows after it were never confirmed written
        total = total if trusted is None else min(total, trusted)
        names = set(dataset.dtype.names or ())
        wanted = [name for name in [TIME, CYCLE, CHARGE_AH, DISCHARGE_AH, *CURVES.values()] if name in names]
        start = self.rows
        while self.rows < total:
            stop = min(total, self.rows + self.chunk_rows)
            block = dataset.fields(wanted)[self.rows:stop]
            t = block[TIME].astype(float)
            for key, column in CURVES.items():
                if column in names:
                    self.series[key].extend(t, block[column])
            if CYCLE in names:
                self._capacities(block)
            last = block[-1]
            self.test_time_s = float(last[TIME])
            self.last = {key: float(last[column]) for key, column in CURVES.items() if column in names}
            self.rows = stop
        return self.rows - start

    def _capacities(self, block: np.ndarray) -> None:
        """Per cycle, the largest charge and discharge counted (the counters run within a cycle)."""
        cycles = block[CYCLE]
        self.cycle = int(cycles[-1])
        for cycle in np.unique(cycles):
            mask = cycles == cycle
            for store, column in ((self.charge_ah, CHARGE_AH), (self.discharge_ah, DISCHARGE_AH)):
                if column in (block.dtype.names or ()):
                    value = float(np.nanmax(block[column][mask]))
                    store[int(cycle)] = max(store.get(int(cycle), 0.0), value)

    def _read_events(self, handle: h5py.File) -> None:
        if "events" not in handle:
            return
        dataset = handle["events"]
        dataset.refresh()
        total = dataset.shape[0]
        if total <= self._events:
            return
        for row in dataset[self._events:total]:
            kind = _decode(row["kind"])
            message = _decode(row["message"])
            if kind in ("step_start", "step_continued"):
                self.step_text = message  # type: ignore[assignment]  # event text; _decode also serves attrs
            elif kind in ("safety_trip", "safe_state", "interruption", "abuse_applied"):
                data = _decode(row["data"]) if "data" in row.dtype.names else None
                rule = data.get("rule") if isinstance(data, dict) else None
                self.markers.append(Marker(float(row["time_s"]), str(kind), str(message),
                                           f"trip: {rule}" if rule else str(kind).replace("_", " ")))
        self._events = total

    def _read_spectra(self, handle: h5py.File) -> None:
        """New spectrum rows and points; a spectrum whose points are still arriving fills in later."""
        if "eis/spectra" not in handle or "eis/points" not in handle:
            return
        spectra, points = handle["eis/spectra"], handle["eis/points"]
        spectra.refresh()
        points.refresh()
        n_spectra, n_points = spectra.shape[0], points.shape[0]
        if n_spectra == self._spectra and n_points == self._points:
            return
        for row in spectra[self._spectra:n_spectra]:
            self._meta[int(row["spectrum"])] = (float(row["time_s"]), int(row["cycle"]), float(row["temperature_c"]))
        pts = points[self._points:n_points]
        for index in np.unique(pts["spectrum"]):
            self._pts.setdefault(int(index), []).append(pts[pts["spectrum"] == index])
        self._spectra, self._points = n_spectra, n_points
        keep = sorted(set(self._meta) | set(self._pts))[-(self.spectra.maxlen or 1):]
        self._meta = {k: self._meta[k] for k in keep if k in self._meta}
        self._pts = {k: self._pts[k] for k in keep if k in self._pts}
        self.spectra.clear()
        for index in keep:
            if index in self._meta and index in self._pts:
                p = np.concatenate(self._pts[index])
                time_s, cycle, temperature_c = self._meta[index]
                self.spectra.append(Spectrum(index, time_s, cycle, temperature_c, p["Frequency / Hz"].astype(float),
                                             p["Z Real / Ohm"].astype(float), p["Z Imaginary / Ohm"].astype(float)))


def _decode(value: object) -> object:
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    if isinstance(value, np.generic):
        return value.item()
    return value


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"
