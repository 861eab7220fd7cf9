"""The population sharded over devices and processes gives the same search as one device.

Each search runs in its own Python process (`tests/sharded_search.py`): the device count (XLA flags)
and jax.distributed must be set before jax starts.
"""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from discovery import run_dir as rd
from tests.helpers import REPO


def _search(out: Path, devices: int = 1, extra: list[str] = (), timeout: int = 600) -> dict:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    proc = subprocess.run([sys.executable, "-m", "tests.sharded_search", str(out), *extra], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _same_search(a: dict, b: dict) -> None:
    assert a["best_vector"] == b["best_vector"]
    assert a["best_fitness"] == b["best_fitness"]
    assert [line["best_so_far_generation"] for line in a["log"]] == [line["best_so_far_generation"] for line in b["log"]]
    # Per-candidate numbers come from per-device batches of another width (XLA vectorizes them
    # differently): equal up to float rounding.
    for la, lb in zip(a["log"], b["log"]):
        assert la["nan_count"] == lb["nan_count"]
        for k in ("best", "mean", "std", "kl_mean", "return_mean", "heldout_accuracy_mean"):
            np.testing.assert_allclose(la[k], lb[k], rtol=1e-4, atol=1e-6, err_msg=k)


@pytest.fixture(scope="module")
def one_device(tmp_path_factory):
    return _search(tmp_path_factory.mktemp("one") / "run", devices=1)


def test_four_simulated_devices_find_the_same_best_parameters(one_device, tmp_path):
    four = _search(tmp_path / "run", devices=4)
    assert (one_device["devices"], four["devices"]) == (1, 4)
    _same_search(one_device, four)


def test_population_must_divide_over_devices(tmp_path):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=3")
    proc = subprocess.run([sys.executable, "-m", "tests.sharded_search", str(tmp_path / "run")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert "strategy.population = 4 must be a multiple of the 3 devices" in proc.stderr
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_with_jax_distributed_equal_one(one_device, tmp_path):
    coordinator = f"localhost:{_free_port()}"
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=1")
    out = tmp_path / "run"
    procs = [subprocess.Popen([sys.executable, "-m", "tests.sharded_search", str(out), "--coordinator", coordinator,
                               "--num-processes", "2", "--process-id", str(i)], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = [p.communicate(timeout=900) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    results = [json.loads(o.strip().splitlines()[-1]) for o, _ in outs]
    assert [(r["devices"], r["processes"]) for r in results] == [(2, 2), (2, 2)]
    _same_search(one_device, results[0])
    # every process saw the same numbers; only process 0 wrote the run directory
    assert rd.without_timing(results[1]["log"]) == rd.without_timing(results[0]["log"])
    assert json.loads((out / "best.json").read_text())["vector"] == one_device["best_vector"]


def test_cpu_devices_flag_shards_the_search_and_is_checked(tmp_path):
    """`mpo search --cpu-devices N` splits the host into N devices before jax starts: a population that N
    does not divide is refused before the run directory is written; N < 1 is refused."""
    from tests.sharded_search import TINY

    sets = [a for item in TINY for a in ("--set", item)]
    run = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "discovery.cli", "search", "--config", "quick", *sets,
                           "--set", "strategy.population=8", "--cpu-devices", "3", "--out", str(run), "--quiet"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "strategy.population = 8 must be a multiple of the 3 devices" in proc.stderr
    assert not run.exists() or not any(run.iterdir())
    from envs.runtime import use_cpu_devices

    with pytest.raises(ValueError, match="--cpu-devices: expected an integer >= 1, got 0"):
        use_cpu_devices(0)
