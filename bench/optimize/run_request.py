"""One run of a study as the executors see it: what to run (:class:`RunRequest`) and how it
ended (:class:`RunDone`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunRequest:
    """One run of a study: the protocol, its ``--set`` values and where its file goes."""

    protocol: str
    settings: dict[str, str]
    out: Path
    bench: str | None = None
    extra_args: tuple[str, ...] = ()

    def argv(self) -> list[str]:
        """The ``bench`` command line of this run."""
        args = ["run", self.protocol, "--out", str(self.out), "--no-progress"]
        for name, value in self.settings.items():
            args += ["--set", f"{name}={value}"]
        if self.bench:
            args += ["--bench", self.bench]
        return args + list(self.extra_args)


@dataclass(frozen=True)
class RunDone:
    """A finished run: exit code, run file, and the last line it printed on stderr (errors)."""

    request: RunRequest
    exit_code: int
    message: str = ""
