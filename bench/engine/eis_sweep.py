"""One EIS step: sweep the bench's impedance analyzer and store the spectrum in the run file.

The engine calls :func:`run_eis_step` for a ``Step(kind="eis")`` with the cycler output off. The
spectrum lands in two tables (``bench/runfile/layout.py``): one row in ``eis/spectra``
(spectrum index, test time, step, cycle, cell temperature °C, SOC fraction, amplitude, mode) and
one row per frequency in ``eis/points`` (Hz, Ω, Ω; ``nan`` where the analyzer was over range),
plus an ``eis_spectrum`` event. Units: seconds, hertz, ohms, volts or amps (``amplitude_unit``).
"""

from __future__ import annotations

import logging
import math
from typing import Any, Protocol

import numpy as np

from bench.analysis.eis_fit import analyse_spectrum
from bench.instruments import Bench
from bench.runfile.writer import RunWriter
from drivers.errors import InstrumentError

logger = logging.getLogger(__name__)


class EisSpecLike(Protocol):
    """What an EIS step asks for (``protocols.steps.EisSpec`` has these fields; read-only, as in
    that frozen dataclass)."""

    @property
    def frequency_start_hz(self) -> float: ...
    @property
    def frequency_stop_hz(self) -> float: ...
    @property
    def points_per_decade(self) -> int: ...
    @property
    def amplitude(self) -> float: ...
    @property
    def amplitude_unit(self) -> str: ...


def run_eis_step(
    bench: Bench,
    spec: EisSpecLike,
    writer: RunWriter,
    *,
    spectrum_index: int,
    time_s: float,
    step_count: int,
    cycle: int,
    temperature_c: float,
    soc: float,
) -> dict[str, Any]:
    """Sweep ``bench.impedance`` as ``spec`` says and append the spectrum to ``writer``.

    ``time_s`` is the test time (s) the sweep starts at; ``temperature_c`` (°C) and ``soc``
    (0..1) describe the cell for the record. Returns a summary: ``spectrum``, ``points``,
    ``valid_points``, ``frequency_max_hz`` / ``frequency_min_hz``, ``r_high_frequency_ohm``
    (Re Z at the highest valid frequency), ``duration_s``, ``mode``, ``amplitude``, and from the
    circuit fit ``r0_ohm``, ``r_ct_ohm``, ``fit_rms_pct``, ``kk_residual_max_pct`` (NaN when the
    spectrum has too few valid points).
    Raises InstrumentError (the run ends with exit code 4, bench safed) when the bench has no
    impedance analyzer or the analyzer fails.
    """
    analyzer = bench.impedance
    if analyzer is None:
        raise InstrumentError("EIS step: this bench has no impedance analyzer "
                              "(add an [impedance] section to the bench config)")
    unit = spec.amplitude_unit.upper()
    if unit not in ("V", "A"):
        raise ValueError(f"EIS amplitude unit must be 'V' or 'A', got {spec.amplitude_unit!r}")
    galvanostatic = unit == "A"
    mode = "galvanostatic" if galvanostatic else "potentiostatic"
    configure = getattr(analyzer, "configure", None)
    if configure is not None:
        configure()
    start_clock_s = bench.clock.now_s()
    freqs, z_re, z_im = analyzer.sweep(spec.frequency_start_hz, spec.frequency_stop_hz,
                                       int(spec.points_per_decade), spec.amplitude, galvanostatic)
    if not (len(freqs) == len(z_re) == len(z_im)):
        raise InstrumentError(f"{analyzer.name}: sweep returned {len(freqs)} frequencies, "
                              f"{len(z_re)} real and {len(z_im)} imaginary parts")
    duration_s = bench.clock.now_s() - start_clock_s
    writer.append("eis/spectra", (spectrum_index, time_s, step_count, cycle, temperature_c, soc,
                                  spec.amplitude, mode), flush=False)
    for f, re, im in zip(freqs, z_re, z_im, strict=True):
        writer.append("eis/points", (spectrum_index, float(f), float(re), float(im)), flush=False)
    valid = [(f, re) for f, re, im in zip(freqs, z_re, z_im, strict=True) if math.isfinite(re) and math.isfinite(im)]
    z = np.asarray(z_re, dtype=float) + 1j * np.asarray(z_im, dtype=float)
    fit = analyse_spectrum(np.asarray(freqs, dtype=float), z)
    summary: dict[str, Any] = {
        "spectrum": spectrum_index,
        "points": len(freqs),
        "valid_points": len(valid),
        "frequency_max_hz": max(freqs) if freqs else math.nan,
        "frequency_min_hz": min(freqs) if freqs else math.nan,
        "r_high_frequency_ohm": max(valid)[1] if valid else math.nan,
        "duration_s": duration_s,
        "mode": mode,
        "amplitude": spec.amplitude,
        "amplitude_unit": unit,
        "r0_ohm": fit.get("r0_ohm", math.nan),
        "r_ct_ohm": fit.get("rct_ohm", math.nan),
        "fit_rms_pct": fit.get("fit_rms_pct", math.nan),
        "kk_residual_max_pct": fit.get("kk_residual_max_pct", math.nan),
    }
    writer.event(time_s, "eis_spectrum", step_count,
                 f"EIS spectrum {spectrum_index}: {len(valid)}/{len(freqs)} points, "
                 f"{summary['frequency_max_hz']:g}-{summary['frequency_min_hz']:g} Hz at {temperature_c:.1f} °C",
                 summary)
    logger.info("EIS spectrum %d: %d points (%d valid) in %.0f s", spectrum_index, len(freqs), len(valid), duration_s)
    return summary
