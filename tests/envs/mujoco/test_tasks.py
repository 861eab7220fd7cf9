"""Task registry, normalized score, and the shipped measured returns and experts."""
import json

import numpy as np
import pytest

from envs.mujoco import experts, tasks

# (obs, act, nq, nv) of brax's environments, from their docstrings.
EXPECTED = {"hopper": (11, 3, 6, 6), "walker2d": (17, 6, 9, 9), "halfcheetah": (17, 6, 9, 9), "ant": (27, 8, 15, 14)}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_registry_sizes_from_mjx_env(name):
    spec = tasks.get_task(name)
    assert spec.backend == "mjx" and tasks.make_env(name).backend == "mjx"
    assert (spec.obs_size, spec.action_size, spec.nq, spec.nv) == EXPECTED[name]
    assert spec.episode_length == tasks.DEFAULT_EPISODE_LENGTH
    assert (spec.action_low, spec.action_high) == (-1.0, 1.0)


def test_unknown_task_names_allowed_values():
    with pytest.raises(ValueError, match="allowed values: hopper, walker2d, halfcheetah, ant"):
        tasks.get_task("humanoid-typo")


def test_normalized_score():
    assert tasks.normalized_score(10.0, 10.0, 110.0) == 0.0
    assert tasks.normalized_score(110.0, 10.0, 110.0) == 100.0
    assert tasks.normalized_score(60.0, 10.0, 110.0) == 50.0
    with pytest.raises(ValueError, match="undefined"):
        tasks.normalized_score(1.0, 5.0, 5.0)


def test_reference_returns_missing_is_a_clear_error(tmp_path):
    p = tmp_path / "tasks.json"
    p.write_text(json.dumps({"hopper": {"random_return": 1.0}}))
    with pytest.raises(ValueError, match="expert_return not measured"):
        tasks.reference_returns("hopper", p)


def test_update_measured_merges(tmp_path):
    p = tmp_path / "tasks.json"
    tasks.update_measured("ant", {"random_return": -3.0}, p)
    tasks.update_measured("ant", {"expert_return": 9.0}, p)
    assert tasks.reference_returns("ant", p) == (-3.0, 9.0)


def test_select_levels_nearest_to_targets():
    rets = np.array([0.0, 12.0, 30.0, 52.0, 70.0, 101.0, 98.0])
    assert experts.select_levels(rets, 0.0, (10.0, 25.0, 50.0, 75.0, 100.0)) == [1, 2, 3, 4, 5]


def test_shipped_measurements_cover_all_tasks():
    measured = tasks.load_measured()
    for name in EXPECTED:
        assert "random_return" in measured[name], name
    rr, er = tasks.reference_returns("hopper")
    assert er > rr


def test_shipped_hopper_experts_are_graded():
    ex = experts.load_experts(tasks.DATA_DIR / "hopper" / "experts")
    assert ex.task == "hopper" and ex.n_levels == 5
    assert [lv["name"] for lv in ex.levels] == ["q10", "q25", "q50", "q75", "q100"]
    rets = [lv["return_stochastic"] for lv in ex.levels]
    assert rets[-1] > rets[0]
    assert ex.meta["episode_length"] == tasks.DEFAULT_EPISODE_LENGTH
    _, er = tasks.reference_returns("hopper")
    assert er == pytest.approx(max(c["return_stochastic"] for c in ex.meta["checkpoints"]))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_line_search_cap(name):
    """make_env applies the measured cap (never raising the model's own); build_env keeps the model's."""
    own = tasks.build_env(name).sys.opt.ls_iterations
    cap = tasks.LS_ITERATIONS.get(name, own)
    assert tasks.make_env(name).sys.opt.ls_iterations == min(cap, own)
    assert tasks.build_env(name, own + 10).sys.opt.ls_iterations == own


@pytest.mark.slow
def test_hopper_line_search_cap_leaves_trajectories_bit_identical():
    from experiments.mjx_solver import check

    rows = check("hopper", [tasks.LS_ITERATIONS["hopper"]], episodes=16, steps=200, seed=3)
    assert [r["cap"] for r in rows] == [50, tasks.LS_ITERATIONS["hopper"]]
    assert rows[1]["identical"], rows[1]


def test_building_a_task_prints_no_warp_lines() -> None:
    """mujoco.mjx prints "Failed to import warp" on CPU; our import of it (envs/mujoco/quiet_mjx.py) keeps
    that out of the CLI's stdout. A fresh interpreter, since the import happens once per process."""
    import subprocess
    import sys

    code = "from envs.mujoco import tasks; tasks.build_env('hopper'); print('built')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["built"], out.stdout
