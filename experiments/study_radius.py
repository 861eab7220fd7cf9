"""Generation 0 against the trust-region radius (issue 16: 'generation 0's mean fitness stays near the
start's'): `python -m experiments.study_radius R...` runs one generation of the study's search at each
radius on hopper noisy-0.3 from tuned DPO (population 8 + the start as control, same keys) and appends one
JSON line per radius to experiments/reports/study/radius.jsonl (the study report reads it)."""
import json
import sys
import tempfile
from pathlib import Path

from discovery.config import REPO, make_config
from discovery.search import run_search
from envs import runtime

OUT = REPO / "experiments" / "reports" / "study" / "radius.jsonl"


def main(radii: list[float]) -> None:
    runtime.enable_compilation_cache()
    for r in radii:
        # the study's variant-table search (discovery/study/run.py search_config), one generation: tuned DPO on
        # noisy-0.3 is beta 0.1, lr 3e-3 (experiments/reports/suite_runs/hopper__noisy-0.3.json)
        cfg = make_config({"datasets": ["envs/data/hopper/noisy-0.3"], "generations": 1, "seeds": 2,
                           "strategy": {"name": "cma_es", "population": 8, "sigma": 0.1, "control": True,
                                        "trust_region": r},
                           "loss": {"init": "sigmoid", "init_hparams": {"beta": 0.1}},
                           "inner": {"steps": 200, "batch_size": 32, "learning_rate": 0.003, "max_grad_norm": 1.0},
                           "eval": {"episodes": 4}, "select": {"top_k": 0, "seeds": 1, "episodes": 1}})
        line = run_search(cfg, Path(tempfile.mkdtemp()) / "r", quiet=True, report=False)["log"][0]
        row = {"radius": r, "mean": line["mean"], "best": line["best"], "std": line["std"], "control": line["control"],
               "heldout_accuracy": line["heldout_accuracy_mean"]}
        print(json.dumps(row), flush=True)
        with OUT.open("a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main([float(x) for x in sys.argv[1:]])
