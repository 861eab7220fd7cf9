"""The exported file runs in a fresh process that cannot import this package (its directory off sys.path,
its editable-install finder and jax blocked): only torch is needed, and it gives the JAX family's numbers."""
import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("torch")

from discovery.cli import main  # noqa: E402
from search_spaces.batch import PrefBatch  # noqa: E402
from search_spaces.mpo import FIELDS, mpo_loss  # noqa: E402
from tests.discovery.export.helpers import random_vector, write_run  # noqa: E402
from tests.helpers import REPO, random_arrays  # noqa: E402

CHILD = r"""
import importlib.abc, importlib.util, json, sys
repo, path, inputs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sys.path[:] = [p for p in sys.path if p not in ("", ".") and not p.startswith(repo)]
BLOCKED = {"discovery", "envs", "search_spaces", "experiments", "tests", "jax", "jaxlib", "trl", "transformers"}

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"blocked in this test: {name}")
        return None

sys.meta_path.insert(0, Block())
spec = importlib.util.spec_from_file_location("exported_loss", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
import torch
args = [torch.tensor(inputs[k], dtype=torch.float64) for k in ("pw", "pl", "rw", "rl")]
lengths = [torch.tensor(inputs[k]) for k in ("nw", "nl")]
values = module.loss(*args, *lengths, tau=inputs["tau"])
try:
    module.MirrorPreferenceOptimizationTrainer
    trainer = "available"
except ImportError as err:
    trainer = str(err)
print(json.dumps({"loss": values.tolist(), "trainer": trainer,
                  "modules": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)}))
"""


def test_exported_file_runs_with_only_torch(tmp_path, capsys):
    _, space = write_run(tmp_path / "probe", temporal=list(FIELDS))
    vec = random_vector(space, np.random.default_rng(7))
    run, _ = write_run(tmp_path / "run", vector=vec, temporal=list(FIELDS))
    out = tmp_path / "standalone_loss.py"
    assert main(["export", str(run), "--out", str(out)]) == 0
    capsys.readouterr()
    pw, pl, rw, rl, mw, ml = random_arrays(3, batch=8, length=20)
    sums = {k: np.where(m > 0, x, 0.0).sum(-1).tolist() for k, x, m in
            (("pw", pw, mw), ("pl", pl, ml), ("rw", rw, mw), ("rl", rl, ml))}
    inputs = {**sums, "nw": mw.sum(-1).astype(int).tolist(), "nl": ml.sum(-1).astype(int).tolist(), "tau": 0.3}
    proc = subprocess.run([sys.executable, "-I", "-c", CHILD, str(REPO), str(out), json.dumps(inputs)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["modules"] == []  # nothing of this package, jax, TRL or transformers was imported
    assert result["trainer"].startswith("MirrorPreferenceOptimizationTrainer needs TRL 1.x")  # TRL blocked here
    with jax.enable_x64(True):
        params = space.from_vector(jnp.asarray(vec, jnp.float64))
        batch = PrefBatch(*(jnp.asarray(np.nan_to_num(x), jnp.float64) for x in (pw, pl, rw, rl, mw, ml)))
        want = np.asarray(mpo_loss(params, batch, 0.3))
    np.testing.assert_allclose(result["loss"], want, rtol=1e-6, atol=1e-6)
