"""Does the current generator reproduce the shipped segment-label pairs of hopper on-policy-long (default path unchanged)?"""
import time

import numpy as np

from envs import runtime
from envs.dataset_io import load_dataset
from envs.mujoco import build, experts, preferences
from envs.mujoco.settings import DatasetConfig

runtime.enable_compilation_cache()
t = time.time()
ds = load_dataset("envs/data/hopper/on-policy-long")
cfg = DatasetConfig.from_json(ds.manifest["properties"])
ex = experts.load_experts(build.default_experts_dir("hopper"))
p = preferences.generate_pairs(cfg, ex, build.stream_keys(cfg.seed)[0])
bad = [k for k in ds.pairs if not np.array_equal(ds.pairs[k], p[k])]
print("arrays differing:", bad)
if bad:
    k = "chosen_tokens"; d = np.any(ds.pairs[k] != p[k], axis=(1, 2)); print("pairs differing", d.sum(), "first", np.argmax(d))
print("versions", ds.manifest["versions"]); print(f"wall {time.time()-t:.0f}s")
