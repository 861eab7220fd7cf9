"""The sandbox around proposal code: the in-process allow-list check, then a worker subprocess with limits.

Code written by a model never runs in the engine's process. `check` only parses it (discovery/proposers/
allowlist.py). Everything that executes it, validation and scoring with the engine, happens in a `Worker`:
`python -m discovery.proposers.worker` started with

- a memory limit (RLIMIT_AS, `memory_mb`) and a file-size limit (RLIMIT_FSIZE: 0 for the validator, so it
  cannot write a byte to any file; the scorer may write jax's compilation cache),
- a wall-clock time limit per request (the worker is killed and restarted past it),
- a minimal environment (PATH, PYTHONPATH, HOME and the jax cache; no API keys or tokens),
- its working directory in the run directory (`scratch`),

and the two sides exchange JSON lines only. Every failure becomes one message for the proposer.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from discovery.proposers.allowlist import Refused, check_code
from discovery.proposers.proposal import Proposal

REPO = Path(__file__).resolve().parents[2]
ENV_KEEP = ("PATH", "HOME", "LANG", "JAX_PLATFORMS", "MPO_JAX_CACHE", "JAX_COMPILATION_CACHE_DIR", "XLA_FLAGS",
            "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "TMPDIR")


class WorkerFailed(RuntimeError):
    """The worker died, ran past its time limit or broke the protocol; the message says which."""


def check(p: Proposal) -> str | None:
    """The allow-list check (parse only): None when admitted, else the refusal message."""
    try:
        check_code(p.code, p.constants)
    except Refused as e:
        return str(e)
    return None


class Worker:
    """One worker subprocess; `request` sends a JSON request and returns the JSON answer, restarting the
    worker after a kill (the next request finds a fresh one)."""

    def __init__(self, scratch: Path, memory_mb: int = 3072, fsize_mb: int = 0, timeout_s: float = 60.0,
                 init: dict[str, Any] | None = None, init_timeout_s: float = 300.0) -> None:
        self.scratch = Path(scratch)
        self.memory_mb, self.fsize_mb, self.timeout_s = memory_mb, fsize_mb, timeout_s
        self.init, self.init_timeout_s = init, init_timeout_s
        self.proc: subprocess.Popen | None = None
        self.stderr_tail: deque[str] = deque(maxlen=40)
        self.starts = 0

    def _env(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in ENV_KEEP if k in os.environ}
        env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["TF_CPP_MIN_LOG_LEVEL"] = "2"
        return env

    def start(self) -> None:
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            # the worker applies its limits itself, first thing, before it imports anything or reads a request
            [sys.executable, "-c", "import sys; from discovery.proposers.worker import main; main()", "--memory-mb", str(self.memory_mb),
             "--fsize-mb", str(self.fsize_mb)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, cwd=self.scratch, env=self._env(), text=True, bufsize=1,
            start_new_session=True)  # its own process group: a kill reaches everything it started
        self.starts += 1
        self.stderr_tail.clear()
        threading.Thread(target=self._drain, args=(self.proc,), daemon=True).start()
        if self.init is not None:
            resp = self._send(self.init, self.init_timeout_s)
            if not resp.get("ok"):
                self.close()
                raise WorkerFailed(f"worker: init failed: {resp.get('error')}")

    def _drain(self, proc: subprocess.Popen) -> None:
        for line in proc.stderr:
            self.stderr_tail.append(line.rstrip()[:400])

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.wait()
            self.proc = None

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _send(self, req: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        proc = self.proc
        try:
            proc.stdin.write(json.dumps(req) + "\n")
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # it died: reported below
        answer: list[str] = []
        reader = threading.Thread(target=lambda: answer.append(proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout_s)
        if reader.is_alive():
            self.close()
            raise WorkerFailed(f"exceeded the time limit of {timeout_s:g} s (the worker was killed)")
        line = answer[0] if answer else ""
        if not line:
            code = proc.wait()
            self.proc = None
            why = (f"killed by signal {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}")
            hint = " (the memory limit?)" if code in (-signal.SIGKILL, -signal.SIGSEGV, -signal.SIGABRT) else ""
            if code == -signal.SIGXFSZ:
                hint = " (it tried to write a file: the file-size limit)"
            time.sleep(0.05)
            tail = " | ".join(list(self.stderr_tail)[-3:])
            raise WorkerFailed(f"the worker {why}{hint}" + (f"; last output: {tail}" if tail else ""))
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            self.close()
            raise WorkerFailed(f"the worker broke the protocol (answered {line[:100]!r})") from None

    def request(self, req: dict[str, Any], timeout_s: float | None = None) -> dict[str, Any]:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        return self._send(req, self.timeout_s if timeout_s is None else timeout_s)


def validator(scratch: Path, timeout_s: float = 60.0, memory_mb: int = 3072) -> Worker:
    """A worker for validation only: no engine, no file writes at all."""
    return Worker(scratch, memory_mb=memory_mb, fsize_mb=0, timeout_s=timeout_s)


def validate(worker: Worker, p: Proposal) -> tuple[str | None, str]:
    """(error or None, stage): the allow-list check here, then the worker's checks. Stages: parse, validate,
    limit (time or memory)."""
    err = check(p)
    if err is not None:
        return err, "parse"
    req = {"op": "validate", "code": p.code,
           "constants": {k: [c.value, c.low, c.high] for k, c in p.constants.items()}}
    try:
        resp = worker.request(req)
    except WorkerFailed as e:
        return f"validation: {e}", "limit"
    if resp.get("ok"):
        return None, "valid"
    return resp.get("error", "validation failed"), resp.get("stage", "validate")
