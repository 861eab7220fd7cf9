"""brax PPO experts end to end with a tiny budget (minutes on a 2-core CPU: PPO compiles slowly)."""
import json

import pytest

from envs import runtime
from envs.mujoco import experts, tasks

runtime.enable_compilation_cache()


@pytest.mark.slow
def test_tiny_ppo_run_saves_graded_levels(tmp_path, monkeypatch):
    tj = tmp_path / "tasks.json"
    tj.write_text(json.dumps({"hopper": {"random_return": 17.0}}))
    monkeypatch.setattr(tasks, "TASKS_JSON", tj)
    cfg = experts.PPOConfig(num_timesteps=2 * 8 * 4 * 16, num_evals=3, num_envs=8, batch_size=8, unroll_length=4,
                            num_minibatches=4, num_updates_per_batch=1, num_eval_envs=4,
                            policy_hidden=(8,), value_hidden=(8,))
    seen = []
    meta = experts.train_experts("hopper", tmp_path / "ex", cfg, episode_length=20, eval_episodes=2,
                                 level_targets=(50.0, 100.0), progress=lambda s, r, t: seen.append(s),
                                 record_measured=True)
    assert seen[0] == 0 and len(seen) == 3
    assert len(meta["checkpoints"]) == 3 and [lv["name"] for lv in meta["levels"]] == ["q50", "q100"]
    ex = experts.load_experts(tmp_path / "ex")
    assert ex.n_levels == 2 and ex.policy_hidden == (8,)
    assert json.loads(tj.read_text())["hopper"]["expert_return"] == max(
        c["return_stochastic"] for c in meta["checkpoints"])
    with pytest.raises(FileExistsError):
        experts.train_experts("hopper", tmp_path / "ex", cfg, episode_length=20)
