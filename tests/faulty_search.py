"""`mpo search` with a signal at one named moment, for the fault-injection tests.

    python -m tests.faulty_search POINT SIGNAL -- SEARCH_ARGS...

runs `mpo search SEARCH_ARGS` as the real command (discovery.cli.main() on sys.argv, so its real exit path)
and sends itself SIGNAL (KILL or INT) at POINT, printing "mpo-fault: POINT" to stderr first. The same hooks
serve the in-process tests (`install`). POINT is one of
  engine           before the datasets are loaded (before the run directory is made)
  compile          as the first XLA compile starts (from the thread that compiles)
  compiling:S      S seconds into the first trace-and-compile of the generation program (a timer thread);
                   the line printed says whether it was still running ("compile running: True")
  generation:G     generation G computed, before its log line
  log:G            after generation G's log line, before its checkpoint
  checkpoint:G     inside the checkpoint write of generation G (orbax's write started, not committed)
  committed:G      after generation G's checkpoint was committed
  best             all generations done, before best.json is written
  time:SECONDS     a timer from the start of this process (any moment)
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any, Callable

START = time.monotonic()
SIGNALS = {"KILL": signal.SIGKILL, "INT": signal.SIGINT}


def firing(signum: int, point: str) -> Callable[..., None]:
    def fire(note: str = "") -> None:  # the time is CLOCK_MONOTONIC, the same clock in every process of the machine
        print(f"mpo-fault: {point} at {time.monotonic():.3f}{note}", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signum)

    return fire


def install(setattr_: Callable[[Any, str, Any], None], point: str, fire: Callable[..., None]) -> None:
    """Patch the moment `point` to call `fire()` once; `setattr_(obj, name, value)` is monkeypatch.setattr
    (in-process tests) or plain setattr (a process of its own)."""
    name, _, arg = point.partition(":")
    if name == "time":  # armed before the imports below: the moment may fall inside them
        threading.Timer(max(0.0, float(arg) - (time.monotonic() - START)), fire).start()
        return
    import jax
    import orbax.checkpoint as ocp

    import discovery.checkpoint as ckpt
    import discovery.interrupt as interrupt
    import discovery.run_dir as rd
    import discovery.search as search

    at = int(arg) if arg and name != "compiling" else None
    done = [False]

    def once(*note: str) -> None:
        if not done[0]:
            done[0] = True
            fire(*note)

    if name == "engine":
        orig_build = search.build_engine
        setattr_(search, "build_engine", lambda cfg: (once(), orig_build(cfg))[1])
    elif name == "compile":
        orig_compile = jax.stages.Lowered.compile

        def compile_(self, *a, **k):
            once()
            return orig_compile(self, *a, **k)

        setattr_(jax.stages.Lowered, "compile", compile_)
    elif name == "compiling":
        orig_call = interrupt.call
        calls = [0]
        running = [False]

        def call(fn):  # the search's first interrupt.call is the trace and compile of its generation
            calls[0] += 1
            if calls[0] > 1:
                return orig_call(fn)
            running[0] = True
            threading.Timer(float(arg), lambda: once(f" (compile running: {running[0]})")).start()
            try:
                return orig_call(fn)
            finally:
                running[0] = False

        setattr_(interrupt, "call", call)
    elif name == "generation":
        orig_bookkeep = search._bookkeep

        def bookkeep(state, g, *a):
            out = orig_bookkeep(state, g, *a)
            if g == at:
                once()
            return out

        setattr_(search, "_bookkeep", bookkeep)
    elif name == "log":
        orig_append = rd.append_log

        def append(run_dir, line):
            orig_append(run_dir, line)
            if line["generation"] == at:
                once()

        setattr_(rd, "append_log", append)
    elif name == "checkpoint":
        orig_save = ocp.CheckpointManager.save

        def save(self, step, *a, **k):
            out = orig_save(self, step, *a, **k)  # the write runs on in orbax's threads
            if step == at + 1:
                once()
            return out

        setattr_(ocp.CheckpointManager, "save", save)
    elif name == "committed":
        orig_ckpt = ckpt.save

        def committed(mngr, step, *a, **k):
            orig_ckpt(mngr, step, *a, **k)
            if step == at + 1:
                once()

        setattr_(ckpt, "save", committed)
    elif name == "best":
        orig_best = search._write_best
        setattr_(search, "_write_best", lambda *a: (once(), orig_best(*a))[1])
    else:
        raise ValueError(f"unknown fault point {point!r}")


def main(argv: list[str]) -> None:
    point, sig, sep, *rest = argv
    assert sep == "--", "usage: python -m tests.faulty_search POINT SIGNAL -- SEARCH_ARGS..."
    install(setattr, point, firing(SIGNALS[sig], point))
    from discovery.cli import main as mpo

    sys.argv = ["mpo", "search", *rest]
    sys.exit(mpo())


if __name__ == "__main__":
    main(sys.argv[1:])
