"""The run file's layout: group and column names, shared by the writer and every reader.

Sample columns carry the Battery Data Format labels (``Test Time / s``...). Documented for
analysis scripts in docs/run-file.md; a reader needs only h5py.
"""

from __future__ import annotations

import h5py
import numpy as np

FORMAT_VERSION = 1

#: /samples: one row per acquired sample (BDF labels as compound field names).
SAMPLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Test Time / s", "f8"),
    ("Unix Time / s", "f8"),
    ("Voltage / V", "f8"),
    ("Current / A", "f8"),
    ("Power / W", "f8"),
    ("Cycle Count / 1", "i4"),
    ("Step Count / 1", "i4"),
    ("Step Index / 1", "i4"),
    ("Step Capacity / Ah", "f8"),
    ("Charging Capacity / Ah", "f8"),
    ("Discharging Capacity / Ah", "f8"),
    ("Charging Energy / Wh", "f8"),
    ("Discharging Energy / Wh", "f8"),
    ("Surface Temperature T1 / degC", "f8"),
    ("Ambient Temperature / degC", "f8"),
)
SAMPLE_DTYPE = np.dtype(list(SAMPLE_COLUMNS))

_STR = h5py.string_dtype("utf-8")

#: /steps: one row per finished step.
STEP_DTYPE = np.dtype([
    ("step_count", "i4"), ("step_index", "i4"), ("cycle", "i4"), ("kind", _STR), ("text", _STR),
    ("start_time_s", "f8"), ("end_time_s", "f8"), ("end_reason", _STR),
    ("charge_ah", "f8"), ("discharge_ah", "f8"), ("charge_wh", "f8"), ("discharge_wh", "f8"),
    ("voltage_start_v", "f8"), ("voltage_end_v", "f8"), ("current_end_a", "f8"),
    ("temperature_max_c", "f8"), ("temperature_min_c", "f8"), ("chamber_setpoint_c", "f8"),
    # A step that ended on a voltage limit: Ah / Wh above are at the crossing (bench.engine.crossing);
    # crossing_time_s is when it was crossed (NaN for other endings), past_crossing_ah / _wh the
    # signed net charge / energy counted after it (0 for other endings): throughput = both.
    ("crossing_time_s", "f8"), ("past_crossing_ah", "f8"), ("past_crossing_wh", "f8"),
])

#: /cycles: one row per finished cycle (written when the next cycle starts or the run ends).
#: Ah / Wh are magnitudes within the cycle; ``coulombic_efficiency`` = discharge / charge Ah and
#: ``energy_efficiency`` = discharge / charge Wh (NaN without charge); ``status``: ``complete``,
#: or how the run ended inside that cycle (``safety_trip``, ``aborted``, ``instrument_failure``).
CYCLE_DTYPE = np.dtype([
    ("cycle", "i4"), ("start_time_s", "f8"), ("end_time_s", "f8"),
    ("charge_ah", "f8"), ("discharge_ah", "f8"), ("charge_wh", "f8"), ("discharge_wh", "f8"),
    ("coulombic_efficiency", "f8"), ("energy_efficiency", "f8"), ("temperature_max_c", "f8"),
    ("first_step_count", "i4"), ("steps", "i4"), ("status", _STR),
])

#: /events: safety trips, operator actions, step changes, interruptions (``data`` is JSON).
EVENT_DTYPE = np.dtype([("time_s", "f8"), ("kind", _STR), ("step_count", "i4"), ("message", _STR), ("data", _STR)])

#: /journal: the state ``bench resume`` needs, one JSON row per flush of samples and per step
#: boundary (last row wins): plan position, loop counters, variables, Ah/Wh, chamber setpoint,
#: the step in progress and (simulated bench) the simulated world. See bench/engine/core.py.
JOURNAL_DTYPE = np.dtype([("time_s", "f8"), ("state", _STR)])

#: /eis/spectra: one row per spectrum; /eis/points: the points of every spectrum.
EIS_SPECTRUM_DTYPE = np.dtype([
    ("spectrum", "i4"), ("time_s", "f8"), ("step_count", "i4"), ("cycle", "i4"),
    ("temperature_c", "f8"), ("soc", "f8"), ("amplitude", "f8"), ("mode", _STR),
])
EIS_POINT_DTYPE = np.dtype([
    ("spectrum", "i4"), ("Frequency / Hz", "f8"), ("Z Real / Ohm", "f8"), ("Z Imaginary / Ohm", "f8"),
])

TABLES: dict[str, np.dtype] = {
    "samples": SAMPLE_DTYPE,
    "steps": STEP_DTYPE,
    "cycles": CYCLE_DTYPE,
    "events": EVENT_DTYPE,
    "journal": JOURNAL_DTYPE,
    "eis/spectra": EIS_SPECTRUM_DTYPE,
    "eis/points": EIS_POINT_DTYPE,
}
