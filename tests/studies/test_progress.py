"""The live progress line: counts, best so far on the study's objective, elapsed and ETA; in
place on a terminal, plain periodic lines elsewhere; picklable (Tune saves its callbacks)."""

from __future__ import annotations

import io
import pickle
from types import SimpleNamespace

from ray.tune.experiment import Trial

from studies.session.progress import Progress, _duration


def _trial(status: str, val: float | None = None, **config: object) -> SimpleNamespace:
    result = {} if val is None else {"val_acc": val}
    return SimpleNamespace(status=status, last_result=result, config=config)


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


TRIALS = [
    _trial(Trial.TERMINATED, 0.91, schedule="clr", max_lr=0.0412, seed=0),
    _trial(Trial.TERMINATED, 0.95, schedule="ft", seed=0),
    _trial(Trial.RUNNING, 0.50, schedule="lrw", seed=0),
    _trial(Trial.ERROR),
]


def test_line_counts_best_and_eta() -> None:
    """2 done, 1 running, 1 failed of 6 → 2 pending; best val 0.95 by ft; an ETA is given."""
    line = Progress("search", 6, "val_acc", "max", stream=io.StringIO()).line(TRIALS)
    assert line.startswith("[search] 2/6 done, 1 running, 2 pending, 1 failed")
    assert "best val_acc 0.9500 (schedule=ft seed=0)" in line
    assert "elapsed, ~" in line and "left" in line


def test_minimising_objective_picks_the_smallest() -> None:
    """mode=min (e.g. macs): the smallest value is the best."""
    line = Progress("search", 4, "val_acc", "min", stream=io.StringIO()).line(TRIALS)
    assert "best val_acc 0.5000 (schedule=lrw seed=0)" in line


def test_plain_lines_off_a_terminal_and_in_place_on_one() -> None:
    """Not a TTY: one line per tick ending in a newline; a TTY: rewritten with \\r."""
    plain = io.StringIO()
    progress = Progress("search", 4, "val_acc", "max", stream=plain, interval_s=0.0)
    progress.on_step_end(1, TRIALS)
    progress.on_step_end(2, TRIALS)
    assert plain.getvalue().count("\n") == 2 and "\r" not in plain.getvalue()
    tty = Tty()
    progress = Progress("search", 4, "val_acc", "max", stream=tty, interval_s=0.0)
    progress.on_step_end(1, TRIALS)
    progress.on_experiment_end(TRIALS)
    assert tty.getvalue().startswith("\r\033[K[search]") and tty.getvalue().endswith("\n")


def test_quiet_between_ticks_but_not_when_a_trial_ends() -> None:
    """Within the interval nothing is printed, unless the number of ended trials changed."""
    out = io.StringIO()
    progress = Progress("search", 4, "val_acc", "max", stream=out, interval_s=3600)
    progress.on_step_end(1, TRIALS)
    progress.on_step_end(2, TRIALS)
    assert out.getvalue().count("\n") == 1
    progress.on_step_end(3, [*TRIALS, _trial(Trial.TERMINATED, 0.2)])
    assert out.getvalue().count("\n") == 2


def test_picklable_and_durations() -> None:
    """Tune pickles run-config callbacks: the stream is not part of the state."""
    progress = pickle.loads(pickle.dumps(Progress("search", 4, "val_acc", "max", io.StringIO())))
    assert progress.line(TRIALS).startswith("[search] 2/4 done")
    assert [_duration(s) for s in (42, 187, 7500)] == ["42s", "3m07s", "2h05m"]


def test_an_ended_trial_is_shown_once_its_successor_runs() -> None:
    """A trial ends while another waits for its slot: the line waits (a step or two, at most
    SETTLE_S) until the successor runs, so it does not show one trial fewer running."""
    out = io.StringIO()
    progress = Progress("search", 3, "val_acc", "max", stream=out, interval_s=3600)
    first = [_trial(Trial.RUNNING), _trial(Trial.RUNNING), _trial(Trial.PENDING)]
    progress.on_step_end(1, first)
    ended = [_trial(Trial.TERMINATED, 0.9), _trial(Trial.RUNNING), _trial(Trial.PENDING)]
    progress.on_step_end(2, ended)
    assert out.getvalue().count("\n") == 1  # the successor has not started yet
    started = [_trial(Trial.TERMINATED, 0.9), _trial(Trial.RUNNING), _trial(Trial.RUNNING)]
    progress.on_step_end(3, started)
    assert out.getvalue().splitlines()[-1].startswith("[search] 1/3 done, 2 running, 0 pending")


def test_an_ended_trial_is_shown_after_the_settle_time(monkeypatch) -> None:
    """If no successor starts (no free resources), the line comes after SETTLE_S anyway."""
    import studies.session.progress as progress_module

    now = [0.0]
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: now[0])
    out = io.StringIO()
    progress = Progress("search", 3, "val_acc", "max", stream=out, interval_s=3600)
    progress.on_step_end(1, [_trial(Trial.RUNNING), _trial(Trial.PENDING), _trial(Trial.PENDING)])
    assert out.getvalue().count("\n") == 1  # the first step always prints
    waiting = [_trial(Trial.TERMINATED, 0.9), _trial(Trial.PENDING), _trial(Trial.PENDING)]
    for t in (100.0, 101.0):  # ended at 100, successors still pending
        now[0] = t
        progress.on_step_end(2, waiting)
    assert out.getvalue().count("\n") == 1
    now[0] = 100.0 + progress_module.SETTLE_S
    progress.on_step_end(3, waiting)
    assert out.getvalue().count("\n") == 2
