"""A run directory that resumes and never lies, in-process on the tiny fixture.

Every search here is the same tiny search, so the generation program is built once for the module
(`make_generation` memoized: a later run_search call takes ~0.5 s instead of a 10-70 s trace and compile; a
resume traces once more, its restored inputs being committed arrays):
Ctrl-C at five moments (exit 130, a hint that is true, and the resume it suggests reaching the uninterrupted
result), what a kill leaves behind, a log cut short, the lock, an edited config and an all-NaN search.
Real processes killed with SIGKILL / SIGINT are in tests/discovery/test_faults.py (slow).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

import discovery.search as search
from discovery import fingerprint, interrupt
from discovery import run_dir as rd
from discovery.cli import main
from discovery.lock import RunLock, RunLocked
from envs import runtime

REPO = Path(__file__).resolve().parents[2]
from tests.faulty_search import install
from tests.helpers import REPO
from tests.sharded_search import TINY

SETS = [a for item in TINY for a in ("--set", item)]
ARGS = ["search", "--config", "quick", *SETS, "--quiet", "--no-report"]


@pytest.fixture(scope="module", autouse=True)
def one_program():
    """Every run of this module reuses one compiled generation (the config is the same)."""
    built: dict = {}
    orig = search.make_generation

    def memo(engine, *args, **kwargs):
        program = {k: v for k, v in engine.cfg.items() if k not in ("name", "report")}  # keys it does not read
        # x0 and the trust-region scale are arrays: keyed by their bytes
        plain = {k: (None if v is None else np.asarray(v).tobytes()) for k, v in kwargs.items()}
        key = (json.dumps(program, sort_keys=True), args, tuple(sorted(plain.items())))
        if key not in built:
            built[key] = orig(engine, *args, **kwargs)
        return built[key]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(search, "make_generation", memo)
        yield


def outcome(run: Path) -> tuple[dict, list, dict]:
    """best.json, the log without timing fields, and the last checkpoint's state (ES state included)."""
    best = json.loads((run / "best.json").read_text())
    mngr = ocp.CheckpointManager((run / "checkpoints").absolute(), item_handlers=ocp.StandardCheckpointHandler())
    state = mngr.restore(mngr.latest_step(), args=ocp.args.StandardRestore())
    mngr.close()
    return best, rd.without_timing(rd.read_log(run)), jax.tree.map(np.asarray, state)


def same(a: tuple, b: tuple) -> None:
    assert a[0] == b[0]
    assert a[1] == b[1]
    jax.tree.map(np.testing.assert_array_equal, a[2], b[2])


def search_cli(*extra: str) -> int:
    """`mpo search` of the tiny config into a new --out, or `--resume RUN [...]` (then the run's own config)."""
    argv = ["search", *extra, "--quiet", "--no-report"] if extra[0] == "--resume" else [*ARGS, *extra]
    try:
        return main(argv)
    except KeyboardInterrupt:  # would end the pytest session: a failure of the code under test
        pytest.fail("KeyboardInterrupt escaped `mpo search`")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run = tmp_path_factory.mktemp("ref") / "run"
    assert search_cli("--out", str(run)) == 0
    return outcome(run)


def strict_parse(text: str):
    def refuse(name):
        raise AssertionError(f"non-JSON literal {name}")

    return json.loads(text, parse_constant=refuse)


def test_every_file_of_a_run_is_strict_json(reference, tmp_path):
    best, log, _ = reference
    assert best["format_version"] == rd.BEST_VERSION and len(log) == 4
    run = tmp_path / "run"
    assert search_cli("--out", str(run)) == 0
    for name in ("config.json", "versions.json", "fingerprint.json", "best.json"):
        strict_parse((run / name).read_text())
    for line in (run / rd.LOG).read_text().splitlines():
        strict_parse(line)
    fp = json.loads((run / fingerprint.FINGERPRINT).read_text())
    assert fp["config"] == json.loads((run / rd.CONFIG).read_text()) and len(fp["datasets"]) == 1


def pids_of(run: Path) -> int:
    return json.loads((run / ".lock").read_text() or "{}").get("pid", 0)


MOMENTS = {  # point -> what the hint says, and whether the run directory holds a run to resume
    "engine": ("nothing to resume: run the command again", False),
    "compile": ("before the first generation was checkpointed; `mpo search --resume", True),
    "checkpoint:1": ("generations 0-1 of 4 are checkpointed; continue with: mpo search --resume", True),
    "log:2": ("generations 0-2 of 4 are checkpointed; continue with: mpo search --resume", True),
    "best": ("after all 4 generations; `mpo search --resume", True),
}


@pytest.mark.parametrize("point", list(MOMENTS))
def test_ctrl_c_at_five_moments_exits_130_with_a_true_hint(point, reference, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    fired = []

    def fire() -> None:
        fired.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)
        if point == "compile":
            time.sleep(3.0)  # a long compile: the Ctrl-C must not wait for it

    with monkeypatch.context() as mp:
        install(mp.setattr, point, fire)
        assert search_cli("--out", str(run)) == 130
    stopped = time.monotonic()
    hint, resumable = MOMENTS[point]
    err = capsys.readouterr().err.strip().splitlines()
    assert fired and hint in err[-1], err[-3:]
    if point == "compile":
        assert stopped - fired[0] < 2.0  # the compile (3 s) was left behind
    if point.startswith(("checkpoint", "log")):  # the write in progress was completed, not cut
        done = int(point.split(":")[1]) + 1
        assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [str(s) for s in range(1, done + 1)]
        assert [line["generation"] for line in rd.read_log(run)] == list(range(done))
    assert not (run / "best.json").exists()
    assert not (run / ".lock").exists() or pids_of(run) == 0  # released
    if resumable:
        assert search_cli("--resume", str(run)) == 0  # the hint's command
    else:
        assert not (run / rd.CONFIG).exists()
        assert search_cli("--out", str(run)) == 0
    same(outcome(run), reference)


def test_what_a_kill_leaves_behind_resumes_to_the_uninterrupted_result(reference, tmp_path):
    """A kill after a log line and before its checkpoint, inside a checkpoint write (orbax's temporary
    directory), and inside a log append (a line cut short), all at once; plus a lock file of a dead process."""
    run = tmp_path / "run"
    cfg = search.validate(rd.read_config(Path(_finished(tmp_path / "donor"))))
    search.run_search(cfg, run, quiet=True, report=False, stop_after=2)
    with open(run / rd.LOG, "a") as f:
        f.write(json.dumps({**rd.read_log(run)[-1], "generation": 2}) + "\n")  # line 2, no checkpoint 3
        f.write('{"generation": 3, "best": 1')  # cut short
    (run / "checkpoints" / "3.orbax-checkpoint-tmp").mkdir()
    (run / "checkpoints" / "3.orbax-checkpoint-tmp" / "junk").write_text("half")
    (run / ".lock").write_text(json.dumps({"pid": 999999, "host": "gone", "since": "then"}))
    assert search_cli("--resume", str(run)) == 0
    same(outcome(run), reference)


def _finished(run: Path) -> Path:
    assert search_cli("--out", str(run)) == 0
    return run


def test_a_log_cut_short_is_rebuilt_from_an_earlier_checkpoint(reference, tmp_path):
    run = _finished(tmp_path / "run")
    lines = (run / rd.LOG).read_text().splitlines()
    (run / rd.LOG).write_text("\n".join(lines[:2]) + "\n")  # lines 2 and 3 lost; checkpoints 1-4 kept
    (run / "best.json").unlink()
    assert search_cli("--resume", str(run)) == 0
    same(outcome(run), reference)


def test_a_second_process_is_refused_and_a_killed_holders_lock_is_stale(reference, tmp_path, capsys):
    run = tmp_path / "run"
    cfg = search.validate(rd.read_config(_finished(tmp_path / "donor")))
    search.run_search(cfg, run, quiet=True, report=False, stop_after=2)
    log_before = (run / rd.LOG).read_bytes()
    capsys.readouterr()
    with RunLock(run):  # another run of this directory, in this process
        assert search_cli("--resume", str(run)) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"in use by process {os.getpid()}" in err
        with pytest.raises(RunLocked):
            RunLock(run).acquire()
    # A holder in a process of its own, killed with SIGKILL: the kernel drops its lock.
    code = ("import importlib.util, sys, time; s = importlib.util.spec_from_file_location('lock', sys.argv[1]); "
            "m = importlib.util.module_from_spec(s); s.loader.exec_module(m); m.RunLock(sys.argv[2]).acquire(); "
            "print('held', flush=True); time.sleep(120)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(REPO / "discovery" / "lock.py"), str(run)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert search_cli("--resume", str(run)) == 2
        assert f"in use by process {holder.pid}" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    assert (run / rd.LOG).read_bytes() == log_before  # the refused resumes wrote nothing
    assert search_cli("--resume", str(run)) == 0  # the stale lock is taken
    same(outcome(run), reference)


def test_an_edited_config_is_refused_and_a_safe_key_is_accepted_on_request(reference, tmp_path, capsys):
    run = tmp_path / "run"
    cfg = search.validate(rd.read_config(_finished(tmp_path / "donor")))
    search.run_search(cfg, run, quiet=True, report=False, stop_after=2)
    edited = json.loads((run / rd.CONFIG).read_text())
    seeds = edited["report"]["seeds"]
    edited["strategy"]["population"] = 8
    edited["report"]["seeds"] = seeds + 1
    (run / rd.CONFIG).write_text(json.dumps(edited))
    capsys.readouterr()
    assert search_cli("--resume", str(run), "--allow-config-change", "report.seeds") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "strategy.population (4 -> 8)" in err and "report.seeds" not in err
    edited["strategy"]["population"] = 4
    (run / rd.CONFIG).write_text(json.dumps(edited))
    assert search_cli("--resume", str(run)) == 2
    assert f"report.seeds ({seeds} -> {seeds + 1})" in capsys.readouterr().err
    assert search_cli("--resume", str(run), "--allow-config-change", "report.*") == 0
    changes = json.loads((run / fingerprint.FINGERPRINT).read_text())["changes"]
    assert changes == [{"generation": 2, "keys": {"report.seeds": {"old": seeds, "new": seeds + 1}}}]
    best, log, state = outcome(run)
    same((best, log, state), reference)  # report settings change nothing the search computes
    mngr = ocp.CheckpointManager((run / "checkpoints").absolute(), item_handlers=ocp.StandardCheckpointHandler())
    assert mngr.metadata(4).custom_metadata["fingerprint"]["config"]["report"]["seeds"] == seeds + 1
    assert mngr.metadata(2).custom_metadata["fingerprint"]["config"]["report"]["seeds"] == seeds
    mngr.close()


def test_a_search_with_no_finite_candidate_writes_no_best_json(tmp_path, monkeypatch, capsys):
    """Every fitness NaN (as with a diverging learning rate): a clear error, no best.json, strict JSON."""
    orig_book, orig_line = search._bookkeep, search._log_line
    monkeypatch.setattr(search, "_bookkeep", lambda s, g, e, xs, f: orig_book(s, g, e, xs, np.full_like(f, np.nan)))
    monkeypatch.setattr(search, "_log_line", lambda g, s, f, *a: orig_line(g, s, np.full_like(f, np.nan), *a))
    run = tmp_path / "run"
    capsys.readouterr()
    assert search_cli("--out", str(run)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no candidate had a finite fitness in 4 generations" in err
    assert not (run / "best.json").exists()
    for line in (run / rd.LOG).read_text().splitlines():
        assert strict_parse(line)["best_so_far"] is None


def test_interrupts_are_deferred_through_a_write_and_not_through_a_compile():
    with pytest.raises(KeyboardInterrupt):
        with interrupt.deferred(note="test"):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.1)
            done = True  # reached: the signal waited for the block
    assert done
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        interrupt.call(lambda: (os.kill(os.getpid(), signal.SIGINT), time.sleep(2.0)))
    assert time.monotonic() - t0 < 1.0
    assert interrupt.call(lambda: 7) == 7
    with pytest.raises(ZeroDivisionError):
        interrupt.call(lambda: 1 / 0)


def test_the_compilation_cache_is_keyed_by_host(tmp_path, monkeypatch):
    updates = {}
    monkeypatch.setattr(jax.config, "update", lambda k, v: updates.__setitem__(k, v))  # leave the session's cache
    monkeypatch.setattr(runtime, "_cpu_description", lambda: "AMD EPYC|avx2 avx512f|x86_64")
    a = runtime.enable_compilation_cache(tmp_path)
    assert updates["jax_compilation_cache_dir"] == str(a) and a.parent == tmp_path and a.is_dir()
    assert runtime.enable_compilation_cache(tmp_path) == a
    monkeypatch.setattr(runtime, "_cpu_description", lambda: "AMD EPYC|avx2|x86_64")  # another CPU's flags
    b = runtime.enable_compilation_cache(tmp_path)
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
    c = runtime.enable_compilation_cache(tmp_path)
    assert len({a, b, c}) == 3


def test_a_cache_hit_prints_no_false_machine_mismatch(tmp_path):
    """jaxlib's false 'Target machine feature +prefer-no-gather is not supported' on a same-host cache hit: the
    CLI (which imports jax after setting the C++ log level) prints nothing; the program still loads from the cache."""
    script = ("import discovery.cli, sys, jax, jax.numpy as jnp\n"
              "from envs import runtime\n"
              f"runtime.enable_compilation_cache({str(tmp_path)!r})\n"
              "jax.config.update('jax_persistent_cache_min_compile_time_secs', 0)\n"
              "f = jax.jit(lambda x: jnp.tanh(x @ x.T).sum() + jnp.take(x, jnp.array([1, 0]), axis=0).sum())\n"
              "print(float(f(jnp.ones((8, 8)))))\n")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "1"}  # jax's default, inherited from any parent that imported jax
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=REPO,
                           timeout=120) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[-1].stderr[-2000:]
    assert runs[0].stdout == runs[1].stdout
    assert any(tmp_path.rglob("*-cache")), "the first process wrote no cache entry"
    assert "Target machine feature" not in runs[1].stderr and "cpu_aot_loader" not in runs[1].stderr, runs[1].stderr


def test_only_orbax_closed_loop_noise_is_dropped_from_the_excepthooks(tmp_path, capsys, monkeypatch):
    import threading

    from discovery import checkpoint

    monkeypatch.setattr(sys, "excepthook", sys.__excepthook__)
    monkeypatch.setattr(threading, "excepthook", threading.__excepthook__)
    checkpoint.manager(tmp_path / "run").close()
    capsys.readouterr()
    sys.excepthook(RuntimeError, RuntimeError("Event loop is closed"), None)
    for err in (RuntimeError("Event loop is closed"), ValueError("RESOURCE_EXHAUSTED: disk")):
        t = threading.Thread(target=lambda err=err: (_ for _ in ()).throw(err))
        t.start()
        t.join()
    sys.excepthook(ValueError, ValueError("a real error"), None)
    err = capsys.readouterr().err
    assert "Event loop is closed" not in err and "RESOURCE_EXHAUSTED: disk" in err and "a real error" in err, err
