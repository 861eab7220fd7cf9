"""Helpers shared by the export tests (fixtures would live in a conftest.py): a hand-written run directory (best.json + config.json, as a finished search
writes them) and loading an exported file as a module."""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

from discovery.config import make_config
from discovery.engine import search_space
from search_spaces.search_space import SearchSpace


def write_run(run: Path, vector=None, fields=None, temporal=None, init="sigmoid", init_hparams=None,
              generation=3) -> tuple[Path, SearchSpace]:
    """A finished run directory for `vector` in the search space of (init, fields, temporal); default vector:
    the space's start point. The format is discovery/search.py's _write_best."""
    cfg = make_config({"name": "export-test", "loss": {"init": init, "init_hparams": init_hparams or {},
                                                       "fields": fields, "temporal": temporal}})
    space = search_space(cfg)
    vec = np.asarray(space.to_vector(space.fixed), np.float64) if vector is None else np.asarray(vector, np.float64)
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    (run / "versions.json").write_text(json.dumps({"jax": "0.9.2", "mpo-discovery": "0.1.0"}) + "\n")
    best = {"generation": generation, "fitness_during_search": 42.5, "vector": vec.tolist(),
            "vector_names": space.names()}
    (run / "best.json").write_text(json.dumps(best, indent=2) + "\n")
    return run, space


def random_vector(space: SearchSpace, rng: np.random.Generator) -> np.ndarray:
    lo, hi = space.bounds()
    return rng.uniform(lo, hi)


def import_file(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # the trainer class looks its module up by name (pickling, dataclasses)
    spec.loader.exec_module(module)
    return module
