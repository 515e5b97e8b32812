"""Read a run file (finished, being written, or left by a crash) with h5py alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np


class RunFileError(ValueError):
    """A run file that is missing or not a CellBench run file (message names the path)."""


class RunFile:
    """A run file opened read-only in SWMR mode, so it can be read while it is written."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise RunFileError(f"{self.path}: no such run file")
        try:
            self._file = h5py.File(self.path, "r", swmr=True, libver="latest")
        except OSError as exc:
            raise RunFileError(f"{self.path}: not a readable HDF5 run file ({exc})") from None
        if "samples" not in self._file:
            self._file.close()
            raise RunFileError(f"{self.path}: not a CellBench run file (no /samples)")

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> RunFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def attrs(self) -> dict[str, Any]:
        """File attributes (provenance, status), JSON texts decoded."""
        out: dict[str, Any] = {}
        for key, value in self._file.attrs.items():
            if isinstance(value, bytes):
                value = value.decode()
            if isinstance(value, str) and value[:1] in "{[":
                try:
                    value = json.loads(value)
                except json.JSONDecodeError:
                    pass
            elif isinstance(value, np.generic):
                value = value.item()
            out[key] = value
        return out

    def table(self, name: str) -> np.ndarray:
        """A whole table (``samples``, ``steps``, ``events``, ``journal``, ``eis/spectra``, ``eis/points``)."""
        dataset = self._file[name]
        dataset.refresh()
        return dataset[()]

    @property
    def samples(self) -> np.ndarray:
        """All samples (fields named by the BDF labels)."""
        return self.table("samples")

    def column(self, label: str) -> np.ndarray:
        """One sample column by BDF label, e.g. ``"Voltage / V"``."""
        dataset = self._file["samples"]
        dataset.refresh()
        return dataset.fields(label)[()]

    @property
    def steps(self) -> list[dict[str, Any]]:
        """Finished steps as dicts."""
        return [_row(r) for r in self.table("steps")]

    @property
    def events(self) -> list[dict[str, Any]]:
        """Events as dicts (``data`` decoded from JSON)."""
        rows = []
        for r in self.table("events"):
            row = _row(r)
            row["data"] = json.loads(row["data"]) if row["data"] else {}
            rows.append(row)
        return rows

    def last_journal(self) -> dict[str, Any] | None:
        """The newest resume state, or None."""
        journal = self.table("journal")
        if len(journal) == 0:
            return None
        row = _row(journal[-1])
        state = json.loads(row["state"])
        state["time_s"] = row["time_s"]
        return state


def _row(record: np.void) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in record.dtype.names or ():
        value = record[name]
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, np.generic):
            value = value.item()
        out[name] = value
    return out
