"""`mpo bench`: argument errors (fast) and a tiny end-to-end benchmark (slow)."""
import json

import pytest

from discovery.cli import main


@pytest.mark.parametrize("argv, message", [
    (["--sizes", "0,8"], "--sizes: expected integers >= 1"),
    (["--sizes", "a"], "--sizes: expected a comma list of integers"),
    (["--configs", "huge"], "--configs: unknown config 'huge'; allowed: quick, probe, mid"),
    (["--cpu-devices", "0"], "--cpu-devices: expected an integer >= 1"),
    (["--chunk", "0"], "--chunk: expected an integer >= 1"),
    (["--loop-max", "0"], "--loop-max: expected integers >= 1"),
])
def test_bad_arguments_name_the_flag(argv, message, tmp_path, capsys):
    assert main(["bench", *argv, "--out", str(tmp_path / "B.md")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "B.md").exists()


def test_existing_output_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "B.md"
    out.write_text("keep")
    assert main(["bench", "--out", str(out)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert out.read_text() == "keep"


def test_distributed_search_needs_a_shared_run_directory(capsys):
    assert main(["search", "--distributed"]) == 2
    assert "--distributed: give --out (or --resume)" in capsys.readouterr().err


@pytest.mark.slow
def test_tiny_benchmark_writes_every_number(tmp_path):
    out = tmp_path / "B.md"
    assert main(["bench", "--configs", "quick", "--sizes", "1,2", "--chunk", "1", "--repeats", "1",
                 "--cpu-devices", "2", "--out", str(out)]) == 0
    text = out.read_text()
    for needle in ("speedup over loop", "GFLOP/s", "physics steps/s", "MuJoCo C", "peak memory", "mpo bench",
                   "sharded over 2 CPU devices"):
        assert needle in text, needle
    res = json.loads(out.with_suffix(".json").read_text())
    (cfg,) = res["configs"]
    assert [r["P"] for r in cfg["rows"]] == [1, 2]
    s = cfg["split"]
    assert s["train_s"] > 0 and s["eval_s"] > 0 and 0 < s["train_fraction_of_matmul"] < 2
    assert s["mujoco_c_steps_per_s_1thread"] > 0 and s["mjx_physics_steps_per_s"] > 0
    assert cfg["rows"][1]["chunked_peak_mb"] > 0
    # P = 1 does not split over 2 devices; P = 2 does (timed in the child process)
    assert "sharded_s" not in cfg["rows"][0] and cfg["rows"][1]["sharded_s"] > 0
