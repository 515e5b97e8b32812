"""Progress of sweeps and studies (issue 28): runs done / total, time left and the best so far on a
terminal; nothing in CI or on a pipe."""

from __future__ import annotations

import io

from bench.commands.batch_progress import BatchProgress, progress_wanted, remaining_text


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_quiet_in_ci_and_on_a_pipe(monkeypatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    assert progress_wanted(_Tty()) and not progress_wanted(io.StringIO())
    monkeypatch.setenv("CI", "true")
    assert not progress_wanted(_Tty())
    with BatchProgress("sweep", 4, stream=_Tty()) as bar:
        bar.advance(best="1 passed")
    assert not bar.enabled


def test_terminal_line_counts_runs_time_left_and_best(monkeypatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    out = _Tty()
    with BatchProgress("study", 48, stream=out, done=8) as bar:
        bar.advance(4, best="0.41 %")
        bar.advance(4, best="0.38 %")
    text = out.getvalue()
    assert "study runs" in text and "16/48" in text and "best so far: 0.38 %" in text and "left" in text


def test_time_left_is_the_mean_run_time_times_the_runs_left() -> None:
    assert remaining_text(0, 10, 5.0) == "? left"
    assert remaining_text(2, 10, 20.0) == "~80 s left"
    assert remaining_text(1, 10, 60.0) == "~9.0 min left"
