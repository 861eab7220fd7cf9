"""Real `mpo search` processes killed (SIGKILL), interrupted (SIGINT) and run twice at once (slow).

Each process is the real command (tests/faulty_search.py sends the signal at a named moment; the command
itself is unchanged). A kill may land anywhere; what must hold is that resuming, as often as needed, ends
exactly where an uninterrupted run ends: the same best.json, log (timing fields aside) and ES state.
The in-process versions of these checks run in the default suite (test_run_reliability.py).
"""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from discovery import run_dir as rd
from tests.helpers import REPO
from tests.sharded_search import TINY

pytestmark = pytest.mark.slow
ARGS = [a for item in TINY for a in ("--set", item)] + ["--quiet", "--no-report"]
TIMEOUT = 900  # one process on a loaded 2-core machine: a trace and compile of 10-70 s, then seconds


def mpo(*argv: str, fault: tuple[str, str] | None = None) -> subprocess.CompletedProcess:
    cmd = ([sys.executable, "-m", "tests.faulty_search", *fault, "--"] if fault
           else [sys.executable, "-m", "discovery.cli", "search"])
    return subprocess.run([*cmd, *argv], cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)


def start_or_resume(run: Path, fault: tuple[str, str] | None = None) -> subprocess.CompletedProcess:
    """The command a user runs next: a new search while the run directory holds no run, else --resume."""
    if (run / rd.CONFIG).exists():
        return mpo("--resume", str(run), "--quiet", "--no-report", fault=fault)
    return mpo("--config", "quick", *ARGS, "--out", str(run), fault=fault)


def outcome(run: Path) -> tuple[dict, list, dict]:
    best = json.loads((run / rd.BEST).read_text())
    mngr = ocp.CheckpointManager((run / "checkpoints").absolute(), item_handlers=ocp.StandardCheckpointHandler())
    state = mngr.restore(mngr.latest_step(), args=ocp.args.StandardRestore())
    mngr.close()
    return best, rd.without_timing(rd.read_log(run)), jax.tree.map(np.asarray, state)


def assert_same(a: tuple, b: tuple) -> None:
    assert a[0] == b[0]
    assert a[1] == b[1]
    jax.tree.map(np.testing.assert_array_equal, a[2], b[2])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run = tmp_path_factory.mktemp("ref") / "run"
    proc = start_or_resume(run)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return outcome(run)


def test_sigkill_at_ten_moments_then_resume_equals_an_uninterrupted_run(reference, tmp_path):
    rng = random.Random(17)
    moments = [f"time:{rng.uniform(0.5, 3.0):.2f}",  # during startup: nothing written yet
               "engine",  # datasets not loaded, no run directory
               "compiling:1",  # one second into the first trace and compile (10-70 s here)
               "generation:0",  # computed, no log line
               "log:0",  # log line, no checkpoint
               "checkpoint:0",  # inside the checkpoint write
               "committed:1",  # right after a commit
               f"time:{rng.uniform(2.0, 6.0):.2f}",  # anywhere early in a resumed process (imports, engine, compile)
               "checkpoint:3",  # inside the last checkpoint write
               "best"]  # every generation done, no best.json
    run = tmp_path / "run"
    seen = []
    for point in moments:
        proc = start_or_resume(run, fault=(point, "KILL"))
        fired = f"mpo-fault: {point}" in proc.stderr
        if point.startswith("compiling"):
            assert "(compile running: True)" in proc.stderr, proc.stderr[-2000:]
        assert proc.returncode == -9 if fired else proc.returncode in (0, -9), (point, proc.stderr[-2000:])
        if point == "checkpoint:0":  # the kill really cut a write: orbax's temporary directory is left
            assert any("tmp" in p.name for p in (run / "checkpoints").iterdir()), list((run / "checkpoints").iterdir())
        seen.append((point, fired, sorted(p.name for p in (run / "checkpoints").iterdir())
                     if (run / "checkpoints").is_dir() else None))
    assert sum(f for _, f, _ in seen) == len(moments), seen  # every kill landed (a process finishing first fails)
    proc = start_or_resume(run)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not any("tmp" in p.name for p in (run / "checkpoints").iterdir())
    assert_same(outcome(run), reference)


HINTS = {
    "engine": "nothing to resume: run the command again",
    "compiling:1": "before the first generation was checkpointed; `mpo search --resume",
    "checkpoint:1": "generations 0-1 of 4 are checkpointed; continue with: mpo search --resume",
    "log:2": "generations 0-2 of 4 are checkpointed; continue with: mpo search --resume",
    "best": "after all 4 generations; `mpo search --resume",
}


def test_sigint_at_five_moments_in_real_processes_exits_130_promptly_with_a_true_hint(reference, tmp_path):
    """One run interrupted five times, each time at a later moment; each time the command its hint names
    continues it (a new search while nothing was made, else --resume), to the uninterrupted result."""
    run = tmp_path / "run"
    for point, hint in HINTS.items():
        proc = start_or_resume(run, fault=(point, "INT"))
        ended = time.monotonic()
        assert proc.returncode == 130, (point, proc.stderr[-2000:])
        fired = [line for line in proc.stderr.splitlines() if line.startswith(f"mpo-fault: {point} at ")]
        assert fired, (point, proc.stderr[-2000:])
        if point.startswith("compiling"):
            assert "(compile running: True)" in fired[0]
        # from the signal to the end of the process (interpreter exit included; a compile is left behind)
        assert ended - float(fired[0].split(" at ")[1].split()[0]) < 10.0, point
        last = proc.stderr.strip().splitlines()[-1]
        assert hint in last, (point, last)
        assert "Traceback" not in proc.stderr, (point, proc.stderr[-2000:])
        if point == "engine":
            assert not (run / rd.CONFIG).exists()
    proc = start_or_resume(run)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert_same(outcome(run), reference)


def test_two_concurrent_resumes_one_runs_and_the_other_is_refused(reference, tmp_path):
    run = tmp_path / "run"
    proc = start_or_resume(run, fault=("committed:0", "KILL"))
    assert proc.returncode == -9, proc.stderr[-2000:]
    log = open(tmp_path / "first.stderr", "w")  # a file, not a pipe: nobody reads it until the end
    first = subprocess.Popen([sys.executable, "-m", "discovery.cli", "search", "--resume", str(run), "--quiet",
                              "--no-report"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=log, text=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        while f'"pid": {first.pid}' not in ((run / ".lock").read_text() if (run / ".lock").exists() else ""):
            assert first.poll() is None and time.monotonic() < deadline, "the first resume never took the lock"
            time.sleep(0.2)
        second = start_or_resume(run)
        assert second.returncode == 2, second.stderr[-2000:]
        assert f"in use by process {first.pid}" in second.stderr.strip().splitlines()[-1]
        assert first.wait(timeout=TIMEOUT) == 0, (tmp_path / "first.stderr").read_text()[-2000:]
    finally:
        if first.poll() is None:
            first.kill()
        log.close()
    assert [line["generation"] for line in rd.read_log(run)] == [0, 1, 2, 3]  # no duplicated lines
    assert_same(outcome(run), reference)


@pytest.fixture
def small_disk(tmp_path):
    """A 160 KiB file system (tmpfs; needs root and mount): room for a run directory, not for its checkpoints."""
    d = tmp_path / "disk"
    d.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(d)],
                                           capture_output=True).returncode:
        pytest.skip("needs root and mount for a small file system")
    try:
        yield d
    finally:
        subprocess.run(["umount", str(d)], check=False)


def test_a_full_disk_during_a_search_is_one_line_and_the_run_resumes(small_disk, reference, tmp_path):
    run = small_disk / "run"
    proc = start_or_resume(run)
    assert proc.returncode == 2, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("mpo: error: ") and "No space left on device" in last, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "absl" not in proc.stderr, proc.stderr[-3000:]
    moved = tmp_path / "run"  # the user frees space (here: moves the run to a disk with room) and resumes
    shutil.copytree(run, moved, symlinks=True)
    proc = start_or_resume(moved)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert_same(outcome(moved), reference)
