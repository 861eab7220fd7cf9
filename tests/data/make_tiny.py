"""Regenerate tests/data/tiny_hopper_clean: the engine tests' fixture (16 pairs, 6-step responses).

Built with the project's own generator from untrained (random-init) experts, so it needs no PPO run:
    python -m tests.data.make_tiny
"""
import json
import shutil
import tempfile
from pathlib import Path

import jax

from envs import dataset_io, runtime
from envs.mujoco import build, experts, settings

OUT = Path(__file__).resolve().parent / "tiny_hopper_clean"
EXPERTS_NOTE = "untrained hopper experts (PRNGKey 0) in a temporary directory; see tests/data/make_tiny.py"
TINY = dict(n_pairs=16, horizon=6, prompt_max_step=5, sft_episodes=2, episode_length=20, bc_steps=20,
            bc_batch=16, eval_episodes=2)


def main() -> None:
    runtime.enable_compilation_cache()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ex = experts.untrained_experts("hopper", jax.random.PRNGKey(0))
        meta = {"task": "hopper", "levels": ex.levels, "obs_size": ex.obs_size, "action_size": ex.action_size,
                "policy_hidden": list(ex.policy_hidden)}
        experts.save_experts(root / "experts", meta, [ex.level_params(i) for i in range(ex.n_levels)])
        (root / "tasks.json").write_text(json.dumps({"hopper": {"random_return": 5.0, "expert_return": 25.0}}))
        shutil.rmtree(OUT, ignore_errors=True)
        build.build_dataset(settings.make_config("hopper", "h48-clean", **TINY), OUT,
                            experts_dir=root / "experts", tasks_json=root / "tasks.json")
    # the experts lived in a temporary directory: record where they came from, not a path that is gone
    dataset_io.update_manifest(OUT, {"experts": {**dataset_io.load_dataset(OUT).manifest["experts"],
                                                 "dir": EXPERTS_NOTE}})
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
