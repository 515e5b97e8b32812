"""Check (or repair) a run file in a child process with a time bound, so no damage can hang a reader.

Some damage makes the HDF5 library itself spin: 4 KB of noise over the root group's metadata and
h5py never returns from listing the groups, holding the interpreter. No in-process guard can stop
that, so ``bench report / export / plot / resume`` first open and verify the file
(:meth:`bench.runfile.reader.RunFile.verify`: every chunk's Fletcher32 checksum) in a child
Python process, and ``bench repair`` salvages in one. A child that does not finish within
:func:`bound_s` is killed and the file is refused in one line (exit 2); a child that dies
(a crash in the library) likewise.

Child protocol (``python -m bench.runfile.probe check PATH`` / ``repair SOURCE OUTPUT``): exit 0
and, for ``repair``, one JSON object on stdout; exit 2 and one line ``damaged|invalid<TAB>message``
on stdout for a refused file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.runfile.reader import DamagedRunFileError, RunFile, RunFileError

#: Least time a check may take, s (a child Python process starts and imports h5py in ~1 s on a
#: loaded machine); :func:`bound_s` adds the time to read the file at a slow disk's speed.
PROBE_TIMEOUT_S = 30.0
#: Slowest read speed allowed for, bytes per second (a busy spinning disk).
SLOW_READ_BYTES_PER_S = 20e6


def bound_s(path: str | Path) -> float:
    """Longest time a check or repair of ``path`` may take, s."""
    try:
        size = Path(path).stat().st_size
    except OSError:
        size = 0
    return PROBE_TIMEOUT_S + size / SLOW_READ_BYTES_PER_S


def _child(args: list[str], path: Path) -> str:
    """Run this module with ``args`` in a child process; its stdout, or the refusal raised."""
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    limit = bound_s(path)
    try:
        done = subprocess.run([sys.executable, "-m", "bench.runfile.probe", *args], capture_output=True,
                              text=True, timeout=limit, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise DamagedRunFileError(f"{path}: damaged run file: reading its HDF5 structure did not finish within "
                                  f"{limit:.0f} s (the library loops on damaged metadata)") from None
    if done.returncode == 0:
        return done.stdout
    line = (done.stdout.strip().splitlines() or [""])[-1]
    kind, _, message = line.partition("\t")
    if done.returncode == 2 and kind == "damaged":
        raise DamagedRunFileError(message)
    if done.returncode == 2 and kind == "invalid":
        raise RunFileError(message)
    how = f"signal {-done.returncode}" if done.returncode < 0 else f"exit {done.returncode}"
    raise DamagedRunFileError(f"{path}: damaged run file: the HDF5 library failed reading it ({how})")


def check_in_child(path: str | Path) -> None:
    """Open and verify ``path`` in a child process (see the module doc). A missing path is left to
    the caller's own message."""
    path = Path(path)
    if not path.is_file():
        return
    _child(["check", str(path)], path)


def repair_in_child(source: str | Path, output: str | Path | None) -> dict[str, Any]:
    """:func:`bench.runfile.repair.repair_run_file` in a child process: its result as a dict."""
    from bench.runfile.repair import default_repaired_path

    source = Path(source)
    if not source.is_file():
        raise RunFileError(f"{source}: no such run file")
    out = Path(output) if output is not None else default_repaired_path(source)
    try:
        return dict(json.loads(_child(["repair", str(source), str(out)], source)))
    except BaseException:
        out.with_name(out.name + ".partial").unlink(missing_ok=True)  # a killed child leaves its copy
        raise


def main(argv: list[str]) -> int:
    """The child: ``check PATH`` or ``repair SOURCE OUTPUT``."""
    try:
        if argv[0] == "check":
            with RunFile(argv[1]):
                pass
            return 0
        from bench.runfile.repair import repair_run_file

        result = repair_run_file(argv[1], argv[2])
        sys.stdout.write(json.dumps(result.as_dict()) + "\n")
        return 0
    except DamagedRunFileError as exc:
        sys.stdout.write(f"damaged\t{str(exc).splitlines()[0]}\n")
    except RunFileError as exc:
        sys.stdout.write(f"invalid\t{str(exc).splitlines()[0]}\n")
    except OSError as exc:  # repair: e.g. no room for the copy (the partial copy is removed)
        sys.stdout.write(f"invalid\t{argv[-1]}: cannot write the repaired copy: {exc.strerror or exc}\n")
    return 2


if __name__ == "__main__":  # pragma: no cover - runs in the child
    sys.exit(main(sys.argv[1:]))
