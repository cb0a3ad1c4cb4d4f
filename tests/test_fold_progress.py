"""The LOSO progress bar's ETA on made-up sequences of fold finish times (no training)."""

from __future__ import annotations

import io
import itertools

import pytest
from tqdm import std as tqdm_std

from epir_hf.training.progress import FoldETA, FoldProgress

# Two workers whose folds take about 100 s each, so that folds end in pairs a second or two apart.
WORKER_FOLD_SECONDS = [[100, 101, 99, 100, 102, 98, 100], [101, 100, 100, 99, 101, 100, 99]]


def finish_events(worker_fold_seconds: list[list[float]]) -> list[tuple[float, float]]:
    """(finish time, fold seconds) of every fold, in the order they end; each worker starts at 0 and takes its next
    fold as soon as it ends one."""
    return sorted((end, seconds) for folds in worker_fold_seconds
                  for end, seconds in zip(itertools.accumulate(folds), folds))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def estimates(bar: tqdm_std.tqdm, clock: Clock, events: list[tuple[float, float]], remaining, step: float = 5.0):
    """(time left in truth, `remaining(bar, now)`) every `step` seconds between the first and the last fold's end, as
    the bar is updated at each fold's end."""
    end, pending, pairs = events[-1][0], list(events), []
    now = events[0][0]
    while now < end:
        while pending and pending[0][0] <= now:
            clock.now, seconds = pending.pop(0)
            if isinstance(bar, FoldProgress):
                bar.fold_finished(seconds)
            bar.update()
        clock.now = now
        pairs.append((end - now, remaining(bar, now)))
        now += step
    return pairs


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(tqdm_std, "time", clock)  # the clock every tqdm bar built now reads
    return clock


def test_the_eta_of_folds_finishing_in_pairs_stays_on_the_true_time_left(clock):
    events = finish_events(WORKER_FOLD_SECONDS)
    with FoldProgress(total=len(events), file=io.StringIO(), mininterval=0, workers=2) as bar:
        pairs = estimates(bar, clock, events, lambda bar, now: bar.eta.remaining_seconds(now))
        clock.now = events[-1][0]
    errors = [estimate - truth for truth, estimate in pairs]
    assert max(abs(error) for error in errors) <= 5.0, errors  # within 5 % of a fold, from the first fold's end on


def test_tqdm_own_estimate_swings_on_the_same_sequence(clock):
    """Why the runner does not use tqdm's estimate: a moving average of the intervals between updates, which folds
    ending in pairs (1-2 s, then a whole fold) throw far off."""
    events = finish_events(WORKER_FOLD_SECONDS)
    with tqdm_std.tqdm(total=len(events), file=io.StringIO(), mininterval=0) as bar:
        pairs = estimates(bar, clock, events,
                          lambda bar, now: (bar.total - bar.n) / bar.format_dict["rate"])
        clock.now = events[-1][0]
    errors = [estimate - truth for truth, estimate in pairs]
    assert max(errors) > 300 and min(errors) < -50, errors


def test_one_worker_counts_down_from_the_mean_fold():
    eta = FoldETA(total=4, workers=1, started_at=0.0)
    assert eta.remaining_seconds(10.0) is None  # nothing to go by yet
    eta.fold_finished(90.0, now=100.0)
    eta.fold_finished(110.0, now=210.0)
    assert eta.remaining_seconds(210.0) == pytest.approx(200.0)  # two folds of the mean, 100 s
    assert eta.remaining_seconds(260.0) == pytest.approx(150.0)  # the running fold has had 50 s
    assert eta.remaining_seconds(500.0) == pytest.approx(100.0)  # overdue: the running fold counts as ending now
    eta.fold_finished(100.0, now=310.0)
    eta.fold_finished(100.0, now=410.0)
    assert eta.remaining_seconds(410.0) == 0.0


def test_the_last_folds_are_not_shared_by_idle_workers():
    # Three workers, four folds of 100 s: the fourth starts when the first ends and runs alone.
    eta = FoldETA(total=4, workers=3, started_at=0.0)
    for now in (100.0, 100.0, 100.0):
        eta.fold_finished(100.0, now=now)
    assert eta.remaining_seconds(100.0) == pytest.approx(100.0)
    assert eta.remaining_seconds(130.0) == pytest.approx(70.0)


def test_the_bar_shows_the_estimate(clock):
    output = io.StringIO()
    with FoldProgress(total=3, file=output, mininterval=0, workers=1, desc="LOSO folds", unit="fold") as bar:
        assert "<?" in output.getvalue()
        clock.now = 100.0
        bar.fold_finished(100.0)
        bar.update()
        bar.set_postfix(subject="sub01")
    assert "1/3 [01:40<03:20, subject=sub01]" in output.getvalue()


def test_workers_must_be_at_least_one():
    with pytest.raises(ValueError, match="workers must be >= 1; got 0"):
        FoldETA(total=3, workers=0, started_at=0.0)
