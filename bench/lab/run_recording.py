"""The catalog row of one ``bench run`` / ``bench resume`` (or of one channel of a multi-channel run):
glue between the run's hooks and :class:`bench.lab.recorder.CatalogRecorder`.

Every call queues and returns at once (the recorder writes from its own thread), and none raises:
a catalog that is down costs the run one warning, never a sample (docs/lab.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench.lab.recorder import CatalogRecorder

logger = logging.getLogger(__name__)


class RunRecording:
    """A run's catalog row: started when its file opens, heartbeats from progress, finished with
    its verdict, claims and metrics."""

    def __init__(self, catalog: str | None = None, *, recorder: CatalogRecorder | None = None) -> None:
        self.recorder = recorder if recorder is not None else CatalogRecorder.for_run(catalog)
        self.started = False

    def on_open(self, attributes: Mapping[str, Any], path: Path) -> None:
        """The run file exists with these provenance attributes: register the run (status running)."""
        try:
            self.recorder.run_started(dict(attributes), path)
            self.started = True
        except Exception:  # noqa: BLE001 - the catalog never holds up a run
            logger.exception("catalog: could not queue the run's start")

    def progress(self, inner: Callable[[Any], None] | None = None) -> Callable[[Any], None]:
        """A progress callback that heartbeats the run's state, then calls ``inner``."""
        def callback(p: Any) -> None:
            self.recorder.heartbeat({"step": p.step_number, "step_text": p.step_text, "cycle": p.cycle,
                                     "test_time_s": p.test_time_s, "voltage_v": p.voltage_v,
                                     "current_a": p.current_a})
            if inner is not None:
                inner(p)
        return callback

    def finished(self, outcome: Any) -> None:
        """The run ended (``outcome``: :class:`bench.engine.runner.RunOutcome`)."""
        if not self.started:
            return
        report = outcome.report
        claims = report.get("claims", report.get("criteria"))
        try:
            self.recorder.run_finished(outcome.result.status.value, report.get("verdict"), claims,
                                       report.get("metrics"), outcome.path, status_message=outcome.result.message,
                                       test_time_s=outcome.result.test_time_s)
        except Exception:  # noqa: BLE001
            logger.exception("catalog: could not queue the run's end")

    def failed(self, message: str, path: Path | None = None) -> None:
        """The run ended on an error before it had an outcome."""
        if not self.started:
            return
        try:
            self.recorder.run_finished("failed", None, None, None, path, status_message=message)
        except Exception:  # noqa: BLE001
            logger.exception("catalog: could not queue the run's end")

    def close(self, timeout_s: float = 5.0) -> None:
        """Wait at most ``timeout_s`` for the writes (the rest: ``bench runs sync``)."""
        try:
            self.recorder.close(timeout_s=timeout_s)
        except Exception:  # noqa: BLE001
            logger.exception("catalog: closing the recorder failed")
