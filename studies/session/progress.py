"""Live progress of a study on the console: trials done / running / pending / failed, the best
validation score so far, elapsed time and an estimate of what is left.

A Ray Tune callback on the driver. On a terminal the line is rewritten in place once a second;
elsewhere (CI, logs, `ray job logs`) a plain line is printed every `interval_s` seconds and
whenever a trial ends, so a log shows how the study went without thousands of lines.
"""

from __future__ import annotations

import math
import sys
import time
from typing import IO, Any

from ray.tune import Callback
from ray.tune.experiment import Trial

from trainables.keys import Sampled

TTY_INTERVAL_S = 1.0
LOG_INTERVAL_S = 30.0
SETTLE_S = 2.0


class Progress(Callback):
    """Prints one status line per tick; `expected` is the number of trials the phase runs."""

    def __init__(
        self,
        phase: str,
        expected: int,
        metric: str,
        mode: str,
        stream: IO[str] | None = None,
        interval_s: float | None = None,
    ) -> None:
        self.phase, self.expected, self.metric, self.mode = phase, expected, metric, mode
        self._stream = stream  # None: sys.stdout when printing (Tune pickles its callbacks)
        self._interval_s = interval_s
        self.started = time.monotonic()
        self._last = -math.inf
        self._ended = 0
        self._ended_at: float | None = None  # when a trial ended that the line has not shown

    @property
    def stream(self) -> IO[str]:
        return self._stream or sys.stdout

    @property
    def tty(self) -> bool:
        return bool(getattr(self.stream, "isatty", lambda: False)())

    @property
    def interval_s(self) -> float:
        if self._interval_s is not None:
            return self._interval_s
        return TTY_INTERVAL_S if self.tty else LOG_INTERVAL_S

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_stream": None}

    def setup(self, **info: Any) -> None:
        self.started = time.monotonic()  # also after a restore

    def on_step_end(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        ended = sum(t.status in (Trial.TERMINATED, Trial.ERROR) for t in trials)
        now = time.monotonic()
        if ended != self._ended and self._ended_at is None:
            self._ended_at = now
        # A trial that ended frees a slot that Tune fills a step or two later: wait for that
        # (up to SETTLE_S) so the line does not show one trial fewer running than there are.
        settled = self._ended_at is not None and (
            not any(t.status == Trial.PENDING for t in trials) or now - self._ended_at >= SETTLE_S
        )
        if now - self._last >= self.interval_s or settled:
            self._ended, self._ended_at, self._last = ended, None, now
            self._emit(self.line(trials))

    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        self._emit(self.line(trials))
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def line(self, trials: list[Trial]) -> str:
        """`[search] 7/12 done, 2 running, 3 pending, 0 failed | best val_acc 0.9731 (clr …)
        | 2m10s elapsed, ~1m30s left`."""
        status = [t.status for t in trials]
        done, failed = status.count(Trial.TERMINATED), status.count(Trial.ERROR)
        running = status.count(Trial.RUNNING)
        pending = max(self.expected - done - failed - running, status.count(Trial.PENDING))
        elapsed = time.monotonic() - self.started
        parts = [
            f"[{self.phase}] {done}/{self.expected} done, {running} running, "
            f"{pending} pending, {failed} failed",
            self._best(trials),
            f"{_duration(elapsed)} elapsed" + self._eta(done + failed, elapsed),
        ]
        return " | ".join(p for p in parts if p)

    def _best(self, trials: list[Trial]) -> str:
        scored = [
            (t.last_result[self.metric], t)
            for t in trials
            if isinstance((t.last_result or {}).get(self.metric), int | float)
            and math.isfinite(t.last_result[self.metric])
        ]
        if not scored:
            return ""
        pick = max if self.mode == "max" else min
        value, trial = pick(scored, key=lambda pair: pair[0])
        config = trial.config or {}
        what = " ".join(
            f"{k}={config[k]:.3g}" if isinstance(config[k], float) else f"{k}={config[k]}"
            for k in Sampled
            if k != Sampled.START and config.get(k) is not None
        )
        return f"best {self.metric} {value:.4f}" + (f" ({what})" if what else "")

    def _eta(self, ended: int, elapsed: float) -> str:
        left = self.expected - ended
        if ended == 0 or left <= 0:
            return ""
        return f", ~{_duration(elapsed / ended * left)} left"

    def _emit(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r\033[K" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def _duration(seconds: float) -> str:
    """42s, 3m07s, 2h05m."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
