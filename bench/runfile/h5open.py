"""Open a run file as a SWMR reader that gives up on damaged metadata instead of waiting for hours.

A SWMR reader retries a metadata read whose checksum fails (the writer may be mid-flush): HDF5's
default is 100 attempts with a back-off that doubles from 1 µs up to one hour per wait
(``H5Pset_metadata_read_attempts``, HDF5 1.10+ ``H5Fio`` / ``H5_retry_*``), so a truncated or
overwritten file makes every reader appear to hang (a chunk index beyond the end of a truncated
file, noise over the root group). :data:`METADATA_READ_ATTEMPTS` attempts bound the back-off to
about 2^16 µs = 65 ms in all: ample for a writer's flush to finish, short for damage.

h5py does not expose that property, so it is set through ``ctypes`` on the HDF5 library h5py
itself loaded (found in ``/proc/self/maps``; one library, one property list). Where that fails
(another platform, a static build) the plain ``h5py.File`` is used: the child-process bound of
:mod:`bench.runfile.probe` still applies.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
from pathlib import Path
from typing import Any

import h5py

logger = logging.getLogger(__name__)

#: Metadata read attempts of a SWMR reader (HDF5's default: 100; see the module doc).
METADATA_READ_ATTEMPTS = 16


@functools.lru_cache(maxsize=1)
def _set_attempts() -> Any:
    """``H5Pset_metadata_read_attempts`` of the HDF5 library h5py uses, or None."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = {line.split()[-1] for line in maps if "libhdf5" in line and "_hl" not in line
                     and line.split()[-1].startswith("/")}
        for path in sorted(paths):
            lib = ctypes.CDLL(path)
            function = getattr(lib, "H5Pset_metadata_read_attempts", None)
            if function is not None:
                function.argtypes = [ctypes.c_int64, ctypes.c_uint]
                function.restype = ctypes.c_int
                return function
    except (OSError, ValueError):
        logger.debug("HDF5 library not found for H5Pset_metadata_read_attempts", exc_info=True)
    return None


def open_swmr_reader(path: str | Path) -> h5py.File:
    """``h5py.File(path, "r", swmr=True, libver="latest")`` with bounded metadata retries.
    Raises what h5py raises (OSError for a file it cannot open)."""
    setter = _set_attempts()
    if setter is None:
        return h5py.File(path, "r", swmr=True, libver="latest")
    from h5py._hl.files import make_fapl  # the property list h5py.File builds (same close degree, cache)

    fapl = make_fapl(None, libver="latest")
    if setter(fapl.id, METADATA_READ_ATTEMPTS) < 0:
        return h5py.File(path, "r", swmr=True, libver="latest")
    name = str(path).encode()
    fid = h5py.h5f.open(name, h5py.h5f.ACC_RDONLY | h5py.h5f.ACC_SWMR_READ, fapl=fapl)
    try:
        return h5py.File(fid)
    except BaseException:
        with contextlib.suppress(Exception):
            fid.close()
        raise
