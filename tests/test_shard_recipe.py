"""docs/experiments.md's two-shard recipe, run by bash with a stand-in `python` that records its arguments and then
waits (or fails): one process per core, Ctrl-C or a failed shard stops both shards, and the merge runs only after
both ended well."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# Stands in for `python examples/run_loso.py ...`: logs "pid arguments", then a shard waits STUB_SECONDS (exits 1 after
# 2 s when its arguments contain STUB_FAIL); the merge returns at once.
STUB = """#!/bin/bash
echo "$$ $*" >> "$STUB_LOG"
case "$*" in
  *" merge "*) exit 0 ;;
  *"$STUB_FAIL"*) sleep 2; exit 1 ;;
esac
exec sleep "$STUB_SECONDS"
"""


def shard_recipe() -> str:
    """The shell lines of the Reproduce section from the shard loop through the merge."""
    lines = (REPO_ROOT / "docs" / "experiments.md").read_text().split("## Reproduce", 1)[1].splitlines()
    start = next(index for index, line in enumerate(lines) if re.match(r"\(|for i in", line))
    end = next(index for index, line in enumerate(lines) if index > start and "run_loso.py merge" in line)
    return "\n".join(lines[start:end + 1])


class Recipe:
    """The recipe running in its own process group (a terminal's foreground job), with the stand-in `python`."""

    def __init__(self, tmp_path: Path, seconds: float, fail: str = "no shard fails", slow_shell: bool = False) -> None:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "python").write_text(STUB)
        (bin_dir / "python").chmod(0o755)
        self.log = tmp_path / "calls.log"
        env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "STUB_LOG": str(self.log),
               "STUB_SECONDS": str(seconds), "STUB_FAIL": fail, "EPIR_COMPOSITE_DIR": str(tmp_path / "data")}
        if slow_shell:  # every command of the recipe's shell (and its subshells) first waits: shards end meanwhile
            (tmp_path / "slow.sh").write_text("set -T\ntrap 'sleep 0.2' DEBUG\n")
            env["BASH_ENV"] = str(tmp_path / "slow.sh")
        self.process = subprocess.Popen(["bash", "-c", shard_recipe()], env=env, cwd=tmp_path, start_new_session=True)

    def calls(self) -> list[tuple[int, str]]:
        lines = self.log.read_text().splitlines() if self.log.is_file() else []
        return [(int(pid), arguments) for pid, arguments in (line.split(" ", 1) for line in lines)]

    def wait_for_shards(self) -> list[tuple[int, str]]:
        deadline = time.monotonic() + 20
        while len(shards := [call for call in self.calls() if " merge " not in call[1]]) < 2:
            assert time.monotonic() < deadline, "the shards did not start"
            time.sleep(0.05)
        return shards

    def finish(self) -> int:
        try:
            return self.process.wait(timeout=20)
        finally:
            for pid, _ in self.calls():  # never leave a stand-in behind, whatever the recipe did
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def stopped(pids: list[int], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(alive(pid) for pid in pids)


@pytest.fixture
def recipe(tmp_path):
    started = []

    def start(**kwargs) -> Recipe:
        started.append(Recipe(tmp_path, **kwargs))
        return started[-1]

    yield start
    for run in started:
        if run.process.poll() is None:
            os.killpg(run.process.pid, signal.SIGKILL)
        run.finish()


def test_each_shard_trains_one_fold_at_a_time_and_the_merge_follows(recipe):
    run = recipe(seconds=0.2)
    assert run.finish() == 0
    calls = [arguments for _, arguments in run.calls()]
    shards = [arguments for arguments in calls if " merge " not in arguments]
    assert len(shards) == 2 and all("--fold_workers 1" in arguments for arguments in shards), shards
    assert " merge " in calls[-1]


def test_shards_that_both_end_before_the_recipe_looks_still_lead_to_the_merge(recipe):
    # `wait -n` returns 127, not the shards' statuses, for children that ended before it was called.
    run = recipe(seconds=0, slow_shell=True)
    assert run.finish() == 0
    assert " merge " in run.calls()[-1][1]


def test_ctrl_c_stops_both_shards_and_skips_the_merge(recipe):
    run = recipe(seconds=60)
    pids = [pid for pid, _ in run.wait_for_shards()]
    os.killpg(run.process.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's foreground job
    assert run.process.wait(timeout=20) != 0
    assert stopped(pids), "a shard kept running after Ctrl-C"
    assert not any(" merge " in arguments for _, arguments in run.calls())


def test_a_failed_shard_stops_the_other_and_skips_the_merge(recipe):
    run = recipe(seconds=60, fail="--fold_shard 0/2")
    assert run.finish() != 0
    pids = [pid for pid, arguments in run.calls()]
    assert len(pids) == 2 and stopped(pids), "the other shard kept running after one failed"
    assert not any(" merge " in arguments for _, arguments in run.calls())
