"""The LOSO progress bar and its estimate of the time left.

tqdm estimates the time left from a moving average of the intervals between updates. Folds trained side by side
finish in bunches: two workers on folds of about equal length finish two folds a few seconds apart, then none for a
whole fold, so that average swings between about half and twice the real pace (on a composite run with two workers,
between 1 h 08 and 2 h 54 from one fold to the next). The estimate here plays the rest of the run forward instead:
every fold takes the mean time of the folds finished so far, the folds running now have run since they started
(a worker starts its next fold when it finishes one), and each fold still queued goes to the worker that frees first.
It counts down between folds and moves at a fold's end only by as much as that fold moves the mean.
"""

from __future__ import annotations

import heapq
import statistics
import time
from typing import Any

from tqdm.auto import tqdm


class FoldETA:
    """The time left of `total` folds trained by `workers` processes at once, started at `started_at` (seconds on
    any clock that `fold_finished` and `remaining_seconds` are given times of)."""

    def __init__(self, total: int, workers: int, started_at: float) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1; got {workers}.")
        self.total, self.workers, self.started_at = total, workers, started_at
        self.fold_seconds: list[float] = []
        self.finish_times: list[float] = []

    def fold_finished(self, fold_seconds: float, now: float) -> None:
        """A fold that trained for `fold_seconds` (its own time, not its wait in the queue) ended at `now`."""
        self.fold_seconds.append(float(fold_seconds))
        self.finish_times.append(now)

    def remaining_seconds(self, now: float) -> float | None:
        """Seconds from `now` until the last fold ends; None until a fold has finished (nothing to go by)."""
        finished = len(self.fold_seconds)
        if finished >= self.total:
            return 0.0
        if not finished:
            return None
        mean = statistics.fmean(self.fold_seconds)
        # The folds in the order they started: one per worker at the start, then one as each fold ended. The
        # running ones are the latest started, assuming folds end in the order they started.
        starts = [self.started_at] * self.workers + self.finish_times
        started = min(self.total, self.workers + finished)
        free_in = [max(mean - (now - start), 0.0) for start in starts[finished:started]]
        heapq.heapify(free_in)
        for _ in range(self.total - started):
            heapq.heappush(free_in, heapq.heappop(free_in) + mean)
        return max(free_in)


class FoldProgress(tqdm):
    """tqdm counting folds, with `FoldETA`'s estimate in place of tqdm's own; `fold_finished` is called as each
    fold trained by this process's workers ends. `own` is how many of the `total` folds they train (default: all;
    under split ranks, this rank's share, whose end stands for the run's)."""

    BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{fold_eta}{postfix}]"

    def __init__(self, *args: Any, workers: int = 1, own: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, bar_format=self.BAR_FORMAT, **kwargs)
        self.eta = FoldETA(self.total if own is None else own, workers, self.now())

    def now(self) -> float:
        """tqdm's clock (a disabled bar has none of its own)."""
        return self._time() if hasattr(self, "_time") else time.time()

    def fold_finished(self, fold_seconds: float) -> None:
        self.eta.fold_finished(fold_seconds, self.now())

    @property
    def format_dict(self) -> dict[str, Any]:
        values = super().format_dict
        # tqdm draws the bar once while it is being built, before the estimate exists.
        seconds = self.eta.remaining_seconds(self.now()) if hasattr(self, "eta") else None
        values["fold_eta"] = "?" if seconds is None else self.format_interval(seconds)
        return values
