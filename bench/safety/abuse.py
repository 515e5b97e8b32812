"""Abuse tests (nail penetration...): the moment the cell is damaged on purpose, and what follows.

A protocol with an ``abuse:`` section names the rest step at whose start the abuse happens.

* On the simulated bench the abuse is a fault injected into the physics at that instant
  (``simulate: {fault: internal_short, resistance_ohm: 0.1}`` -> ``CellModel.set_internal_short``).
* On real hardware the operator does it: the bench records an ``operator_prompt`` event, shows
  the prompt on the console and keeps sampling while it waits; the operator's confirmation is
  recorded as the ``abuse_applied`` event. No confirmation within ``prompt_timeout_s`` (test
  time) trips the supervisor (rule ``operator_timeout``); an answer of ``abort`` trips it at
  once (``operator_abort``). A run without a terminal on stdin is refused before it starts.

* A hot box (``applied_by: chamber``) needs neither: the abuse step is the soak that heats the
  cell, on the simulated bench and on real hardware alike; it is applied (``abuse_applied``) as
  that step starts.

From the moment the abuse is applied, a supervisor trip still runs the safe-state sequence and
records its event, but the run goes on with the protocol's remaining rest steps (the loader
allows only rests there): they are the test's observation window. The verdict is the analysis'.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import IO, Any

from bench.runfile.writer import RunWriter
from bench.safety.rules import Trip
from bench.sample import Sample
from protocols.errors import ProtocolError
from protocols.steps import Protocol, Step

logger = logging.getLogger(__name__)

CONFIRM_WORDS = ("y", "yes", "done", "ok", "confirmed")
ABORT_WORDS = ("n", "no", "abort", "stop")


class AbuseRefused(ProtocolError):
    """The abuse test cannot run on this bench as started (exit code 2, message names the file)."""


class OperatorConsole:
    """Asks the operator one question on a terminal without blocking the sampling loop.

    ``stream`` is read in a daemon thread; :meth:`answer` returns the line once typed (None
    before). ``interactive`` defaults to ``stream.isatty()``.
    """

    def __init__(self, stream: IO[str] | None = None, out: IO[str] | None = None,
                 interactive: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdin
        self.out = out if out is not None else sys.stderr
        if interactive is None:
            isatty = getattr(self.stream, "isatty", None)
            interactive = bool(isatty()) if isatty is not None else False
        self.interactive = interactive
        self._answer: str | None = None
        self._done = threading.Event()

    def ask(self, prompt: str) -> None:
        """Show ``prompt`` and start waiting for a line (forgetting any earlier answer)."""
        self._done.clear()
        self._answer = None
        self.out.write(f"\n*** OPERATOR: {prompt}\n*** type 'done' when finished, 'abort' to stop: ")
        self.out.flush()
        threading.Thread(target=self._read, name="cellbench-operator", daemon=True).start()

    def _read(self) -> None:
        try:
            line = self.stream.readline()
        except (OSError, ValueError):
            line = ""
        if line:
            self._answer = line.strip()
            self._done.set()

    def answer(self) -> str | None:
        """The operator's line, or None while none has been typed."""
        return self._answer if self._done.is_set() else None

    def wait(self, timeout_s: float) -> str | None:
        """Block up to ``timeout_s`` wall seconds for the answer (tests, scripts)."""
        self._done.wait(timeout_s)
        return self.answer()


class _OperatorRule:
    """Supervisor rule watching the operator's answer while the abuse step samples."""

    name = "operator"

    def __init__(self, test: AbuseTest) -> None:
        self.test = test

    def check(self, sample: Sample) -> Trip | None:
        """Record the confirmation, or trip on abort / timeout."""
        return self.test.poll(sample.time_s)


class AbuseTest:
    """The abuse of a protocol's ``abuse:`` section on one bench (see the module docstring)."""

    def __init__(self, protocol: Protocol, bench: Any, writer: RunWriter, supervisor: Any,
                 console: OperatorConsole | None = None) -> None:
        self.protocol = protocol
        self.config = dict(protocol.abuse)
        self.bench = bench
        self.writer = writer
        self.supervisor = supervisor
        self.simulated = getattr(bench, "simulation", None) is not None
        self.console = console
        #: True from the moment the abuse is applied (trips then keep the observation going).
        self.active = False
        self.prompted_at_s: float | None = None
        self.applied_at_s: float | None = None
        self._triggered = False

    @classmethod
    def for_protocol(cls, protocol: Protocol, bench: Any, writer: RunWriter, supervisor: Any,
                     console: OperatorConsole | None = None) -> AbuseTest | None:
        """The protocol's abuse test, None without one; raises AbuseRefused when it cannot run."""
        if not getattr(protocol, "abuse", None):
            return None
        test = cls(protocol, bench, writer, supervisor, console)
        test.check_ready()
        return test

    @property
    def step_text(self) -> str:
        """Text of the rest step the abuse starts."""
        return str(self.config.get("step", ""))

    @property
    def by_chamber(self) -> bool:
        """True for an abuse the bench's chamber applies (hot box): no prompt, no injected fault."""
        return self.config.get("applied_by") == "chamber"

    def check_ready(self) -> None:
        """Refuse now (before any output is on) what could not complete later."""
        where = self.protocol.source_path or self.protocol.name
        if self.by_chamber:
            if getattr(self.bench, "chamber", None) is None:
                raise AbuseRefused(f"the {self.config.get('test', 'abuse')} step heats the cell with the chamber, "
                                   "and this bench has no [chamber]", file=where)
            return
        if self.simulated:
            from bench.fault_specs import FAULT_KINDS

            kind = str(self.config.get("simulate", {}).get("fault", "internal_short"))
            if kind not in FAULT_KINDS:
                raise AbuseRefused(f"abuse.simulate.fault {kind!r} is not a simulated fault "
                                   f"({', '.join(FAULT_KINDS)})", file=where)
            return
        if self.console is None:
            self.console = OperatorConsole()
        if not self.console.interactive:
            raise AbuseRefused(
                f"the {self.config.get('test', 'abuse')} step needs an operator at a terminal (stdin is not a "
                "terminal, so nobody could confirm it); start the run from an interactive console", file=where)

    # -- engine hooks -----------------------------------------------------------------------------
    def before_step(self, index: int, step: Step, now_s: float) -> None:
        """Called by the engine before each step: applies (or prompts for) the abuse once."""
        if self._triggered:
            return
        wanted = self.config.get("step_index", -1)
        if (step.index != wanted) if wanted is not None and wanted >= 0 else (step.text != self.step_text):
            return
        self._triggered = True
        if self.by_chamber:
            self._applied(now_s, {"applied_by": "chamber", "setpoint_c": step.temperature_c,
                                  "ramp_k_per_min": None if not step.ramp_k_per_s else step.ramp_k_per_s * 60.0,
                                  "simulated": self.simulated})
        elif self.simulated:
            self._apply_simulated(now_s)
        else:
            self._prompt(now_s)

    def _apply_simulated(self, now_s: float) -> None:
        from bench.fault_specs import FaultSpec

        options = dict(self.config.get("simulate", {}))
        kind = str(options.pop("fault", "internal_short"))
        spec = FaultSpec(kind, 0.0, options, f"{kind}@0 (abuse: {self.config.get('test')})")
        inject = self.bench.inject_faults
        if inject is None:
            raise AbuseRefused(f"abuse.simulate: this simulated bench ({self.bench.description}) cannot inject "
                               f"{kind}", file=self.protocol.source_path or self.protocol.name)
        inject([spec])
        self._applied(now_s, {"fault": kind, **options, "simulated": True})

    def _prompt(self, now_s: float) -> None:
        assert self.console is not None
        prompt = str(self.config.get("prompt", ""))
        self.prompted_at_s = now_s
        self.writer.event(now_s, "operator_prompt", 0, prompt,
                          {"test": self.config.get("test"), "timeout_s": self.config.get("prompt_timeout_s")})
        self.supervisor.add_rule(_OperatorRule(self))
        self.console.ask(prompt)

    def _applied(self, now_s: float, data: dict[str, Any]) -> None:
        self.active = True
        self.applied_at_s = now_s
        logger.warning("abuse test %s applied at %.1f s", self.config.get("test"), now_s)
        self.writer.event(now_s, "abuse_applied", 0, f"{self.config.get('test')} applied",
                          {"test": self.config.get("test"), **data})

    def poll(self, now_s: float) -> Trip | None:
        """While prompting: confirmation -> ``abuse_applied``; abort or timeout -> a trip."""
        if self.prompted_at_s is None or self.active or self.console is None:
            return None
        answer = self.console.answer()
        if answer is not None:
            word = answer.strip().lower()
            if word in CONFIRM_WORDS:
                self._applied(now_s, {"operator_answer": answer, "prompted_at_s": self.prompted_at_s,
                                      "simulated": False})
                return None
            if word in ABORT_WORDS:
                return Trip("operator_abort", now_s, f"operator aborted the {self.config.get('test')} step",
                            {"prompted_at_s": self.prompted_at_s})
            self.console.ask(f"please answer 'done' or 'abort' (got {answer!r})")
        timeout = float(self.config.get("prompt_timeout_s", 600.0))
        if now_s - self.prompted_at_s > timeout:
            return Trip("operator_timeout", now_s,
                        f"no operator confirmation of the {self.config.get('test')} step within {timeout:.0f} s",
                        {"prompted_at_s": self.prompted_at_s, "timeout_s": timeout})
        return None
