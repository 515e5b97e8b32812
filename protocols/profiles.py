"""Current and power profiles for ``Replay`` steps: the CSV format, the shipped profiles, scaling.

A profile file is CSV (UTF-8), ``#`` lines are comments::

    # sign: discharge_positive          required: which sign of the values discharges the cell
    # source: how the numbers were made  optional: shown in the report's conditions
    time_s,current_a,power_w            header: time_s, then current_a and/or power_w
    0,0.52,1.9
    1,1.10,4.0
    ...

Times in s, from 0, strictly increasing; current in A, power in W. Each value is held from its
time to the next row's (zero-order hold: a cycler is set, not interpolated); the last row ends
the profile and its value is not applied. ``# sign: charge_positive`` is the project's (BDF)
convention; ``discharge_positive`` is the vehicle convention (traction power positive) and is
negated on loading. A file without a ``# sign:`` line is refused: the sign of a drive cycle is
never guessed.

Shipped profiles (``protocols/profiles/*.csv``, by name: ``urban``, ``highway``) are synthetic
drive cycles made by ``scripts/make_drive_profiles.py`` from stated vehicle parameters (see their
headers and docs/protocols.md). A path is taken relative to the protocol file.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from protocols.errors import ProtocolError
from protocols.steps import ReplaySpec

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
COLUMNS = {"current": "current_a", "power": "power_w"}
#: Most rows a profile may hold (a 1 Hz profile of 28 h); bounds memory and validation time.
MAX_ROWS = 100_000


class ProfileError(ValueError):
    """A profile file that cannot be replayed; ``row`` is the 1-based file line (0 = the file)."""

    def __init__(self, message: str, row: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.row = row


def shipped_profiles() -> list[str]:
    """Names of the shipped profiles (``urban``, ``highway``...)."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.csv"))


def profile_path(source: str, base_dir: Path | None) -> Path:
    """The file a profile name or path refers to (shipped names first)."""
    shipped = PROFILE_DIR / f"{source}.csv"
    if "/" not in source and "\\" not in source and not source.endswith(".csv") and shipped.is_file():
        return shipped
    path = Path(source).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


def read_profile(path: Path, kind: str) -> tuple[tuple[float, ...], tuple[float, ...], str]:
    """(times s, values in A or W with + = charge, provenance) of the ``kind`` column of ``path``.

    Raises ProfileError naming the file line of the first problem."""
    column = COLUMNS[kind]
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(f"profile file {str(path)!r} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"cannot read profile {str(path)!r}: {exc}") from None
    sign = 0.0
    provenance = ""
    header: list[str] | None = None
    index = -1
    times: list[float] = []
    values: list[float] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            key, value = key.strip().lower(), value.strip()
            if key == "sign":
                if value not in ("charge_positive", "discharge_positive"):
                    raise ProfileError(f"'# sign: {value}' must be charge_positive or discharge_positive", number)
                sign = 1.0 if value == "charge_positive" else -1.0
            elif key == "source" and not provenance:
                provenance = value
            continue
        cells = [c.strip() for c in line.split(",")]
        if header is None:
            header = [c.lower() for c in cells]
            if header[0] != "time_s":
                raise ProfileError(f"the header must start with time_s, got {cells[0]!r}", number)
            if column not in header:
                raise ProfileError(f"a {kind} profile needs a {column} column; the header has "
                                   f"{', '.join(header[1:]) or 'none'}", number)
            index = header.index(column)
            continue
        if len(cells) != len(header):
            raise ProfileError(f"{len(cells)} values, the header has {len(header)} columns", number)
        try:
            t, v = float(cells[0]), float(cells[index])
        except ValueError:
            raise ProfileError(f"not a number: {line!r}", number) from None
        if not (math.isfinite(t) and math.isfinite(v)):
            raise ProfileError(f"not a finite number: {line!r}", number)
        if not times and t != 0.0:
            raise ProfileError(f"the profile must start at time_s 0, got {t:g}", number)
        if times and t <= times[-1]:
            raise ProfileError(f"time_s {t:g} does not increase (previous {times[-1]:g})", number)
        times.append(t)
        values.append(v)
        if len(times) > MAX_ROWS:
            raise ProfileError(f"more than {MAX_ROWS} rows", number)
    if sign == 0.0:
        raise ProfileError("no '# sign: charge_positive' or '# sign: discharge_positive' line "
                           "(which sign discharges the cell?)")
    if header is None or len(times) < 2:
        raise ProfileError("a profile needs a header and at least two rows (start and end)")
    return tuple(times), tuple(sign * v for v in values), provenance


def resolve_replay(spec: ReplaySpec, base_dir: Path | None) -> ReplaySpec:
    """``spec`` with its profile loaded and scaled (ProfileError when it cannot be)."""
    path = profile_path(spec.source, base_dir)
    times, raw, provenance = read_profile(path, spec.kind)
    if spec.discharge_only:
        raw = tuple(min(v, 0.0) for v in raw)
    if spec.scaling == "peak":
        peak = max(abs(v) for v in raw[:-1])
        if peak <= 0:
            raise ProfileError("the profile is all zero: nothing to scale to a peak")
        factor = spec.scale_value / peak
    else:
        factor = spec.scale_value
    values = tuple(factor * v for v in raw)
    return dataclasses.replace(spec, times_s=times, values=values, path=str(path), provenance=provenance)


def replay_error(exc: ProfileError, spec: ReplaySpec, file: str, line: int, col: int) -> ProtocolError:
    """The step's one-line error for a profile problem (the profile's own line in the message)."""
    where = f" (line {exc.row} of the profile)" if exc.row else ""
    return ProtocolError(f"profile {spec.source!r}: {exc.message}{where}", file=file, line=line, col=col,
                         suggestion=f"shipped profiles: {', '.join(shipped_profiles())}; or a CSV file "
                                    "(docs/protocols.md, 'Replaying a profile')")
