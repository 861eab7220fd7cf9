"""The discovery engine on a 16-pair hopper fixture: resume, NaN candidates, compile-once, load."""
import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import discovery
from discovery import run_dir as rd
from discovery.config import load_config
from discovery.search import run_search
from envs import runtime
from search_spaces.mpo import mpo_loss, resolve
from tests.sharded_search import (  # one tiny search for this file and test_sharding
    TINY,
)

runtime.enable_compilation_cache()


def test_a_search_compiles_one_program_loads_and_refuses_to_redo(tmp_path):
    cfg = load_config(None, TINY)
    full = run_search(cfg, tmp_path / "full", quiet=True, report=False)
    assert [line["generation"] for line in full["log"]] == [0, 1, 2, 3]
    # a second generation compiles nothing new: one program per generation, built once
    assert full["log"][0]["xla_compiles"] >= 1
    assert all(line["xla_compiles"] == 0 for line in full["log"][1:]), [l["xla_compiles"] for l in full["log"]]

    loaded = discovery.load(tmp_path / "full")
    assert loaded.provenance["generation"] == full["best_generation"]
    np.testing.assert_allclose(loaded.params.base.link_w, full["best_params"].base.link_w, rtol=1e-6)
    for name in ("config.json", "versions.json", "log.jsonl", "best.json"):
        assert (tmp_path / "full" / name).exists()

    with pytest.raises(FileExistsError, match="not empty"):
        run_search(cfg, tmp_path / "full", quiet=True, report=False)
    with pytest.raises(ValueError, match="already finished all 4 generations"):
        run_search(None, tmp_path / "full", resume=True, quiet=True, report=False)


# Slow (88 s of the default suite): the default suite's resume equality is tests/discovery/test_run_reliability.py
# (a kill's leftovers, a cut log, Ctrl-C at five moments, each resumed to the uninterrupted run's numbers).
@pytest.mark.slow
def test_resumed_search_equals_uninterrupted(tmp_path):
    cfg = load_config(None, TINY)
    full = run_search(cfg, tmp_path / "full", quiet=True, report=False)
    part = run_search(cfg, tmp_path / "part", quiet=True, report=False, stop_after=2)
    assert part["generation"] == 2 and not (tmp_path / "part" / "best.json").exists()
    resumed = run_search(None, tmp_path / "part", resume=True, quiet=True, report=False)
    assert resumed["generation"] == 4
    for a, b in zip(jax.tree.leaves(resumed["best_params"]), jax.tree.leaves(full["best_params"])):
        np.testing.assert_array_equal(a, b)
    assert rd.without_timing(resumed["log"]) == rd.without_timing(full["log"])
    assert resumed["best_fitness"] == full["best_fitness"]
    assert json.loads((tmp_path / "part" / "best.json").read_text()) == json.loads(
        (tmp_path / "full" / "best.json").read_text())


def nan_when_gamma_positive(params, batch, tau):
    """Candidates with gamma > 0 blow up: half of a population centered on gamma = 0."""
    loss = mpo_loss(params, batch, tau)
    return jnp.where(resolve(params, tau).gamma > 0, jnp.nan, loss)


def test_nan_candidates_are_counted_and_never_stop_the_search(tmp_path):
    cfg = load_config(None, TINY + ["generations=3", 'loss.fields=["gamma", "log_beta"]', "loss.temporal=[]"])
    result = run_search(cfg, tmp_path / "nan", quiet=True, report=False, loss_fn=nan_when_gamma_positive)
    log = result["log"]
    assert len(log) == 3 and sum(line["nan_count"] for line in log) > 0
    assert all(line["nan_count"] < 4 or line["best"] is None for line in log)
    assert np.isfinite(result["best_fitness"])
    assert float(resolve(result["best_params"], 0.0).gamma) <= 0.0


def test_bad_config_values_name_the_field():
    with pytest.raises(ValueError, match=r"strategy.population: got 1; allowed: an integer >= 2"):
        load_config(None, ["strategy.population=1"])
    with pytest.raises(ValueError, match="loss.init: got 'exo_pair'"):
        load_config(None, ["loss.init=exo_pair"])
    with pytest.raises(ValueError, match=r"unknown key 'inner.stepz'"):
        load_config(None, ["inner.stepz=3"])
    with pytest.raises(ValueError, match=r"inner.learning_rate: got -1"):
        load_config(None, ["inner.learning_rate=-1"])


@pytest.mark.parametrize("override, message", [
    ("strategy.sigma=fast", "strategy.sigma: got 'fast'; allowed: a number"),
    ("generations=true", "generations: got True; allowed: an integer"),
    ("seeds=true", "seeds: got True; allowed: an integer"),
    ("inner.steps=1.5", "inner.steps: got 1.5; allowed: an integer"),
    ("eval.episodes=2.5", "eval.episodes: got 2.5; allowed: an integer"),
    ("loss.init_hparams=5", "loss.init_hparams: got 5; allowed: a mapping"),
    ("eval.greedy=1", "eval.greedy: got 1; allowed: true or false"),
    ("datasets=[]", "datasets: got []; allowed: a non-empty list"),
    ("select.top_k=-1", "select.top_k: got -1; allowed: an integer >= 0"),
])
def test_the_typed_schema_refuses_wrong_types_and_names_the_key(override, message):
    with pytest.raises(ValueError, match="^config: " + re.escape(message)):
        load_config(None, [override])


def test_floats_accept_integers_and_store_floats():
    cfg = load_config(None, ["strategy.sigma=1", "inner.learning_rate=1"])
    assert isinstance(cfg["strategy"]["sigma"], float) and isinstance(cfg["inner"]["learning_rate"], float)
