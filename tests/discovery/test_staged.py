"""A staged search: a second stage starts from (and is fixed at) the final loss of a finished first stage."""
import json

import jax.numpy as jnp
import numpy as np
import pytest

from discovery import fingerprint
from discovery.config import make_config
from discovery.engine import build_engine, run_point, search_space
from search_spaces.mpo import describe
from tests.sharded_search import TINY_DATA


def _stage_one(tmp_path):
    cfg = make_config({"datasets": [str(TINY_DATA)], "loss": {"fields": ["log_beta", "w_sft"], "temporal": []}})
    space = search_space(cfg)
    run = tmp_path / "stage1"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(cfg))
    beta, w_sft = np.log(0.25), 0.7
    (run / "best.json").write_text(json.dumps({"generation": 3, "fitness_during_search": 80.0, "vector": [float(beta), w_sft],
                                               "vector_names": space.names()}))
    return run


def test_the_second_stage_starts_at_the_first_stages_loss(tmp_path) -> None:
    run = _stage_one(tmp_path)
    point = describe(run_point(str(run)), 0.0)
    assert point["beta"] == pytest.approx(0.25, rel=1e-5) and point["w_sft"] == pytest.approx(0.7, rel=1e-6)
    cfg = make_config({"datasets": [str(TINY_DATA)], "loss": {"start_from": str(run)}})
    engine = build_engine(cfg)
    assert engine.space.size == 53  # the full vector, around the first stage's loss
    assert describe(engine.init_point, 0.0)["w_sft"] == pytest.approx(0.7, rel=1e-6)
    # the first stage's best.json is part of the run's fingerprint: an edited one is noticed on resume
    fp = fingerprint.make(cfg)
    (run / "best.json").write_text(json.dumps({**json.loads((run / "best.json").read_text()), "vector": [0.0, 0.0]}))
    with pytest.raises(ValueError, match="best.json changed on disk"):
        fingerprint.compare(fp, fingerprint.make(cfg))
    assert jnp.isfinite(engine.space.to_vector(engine.init_point)).all()


def test_start_from_must_be_a_finished_run(tmp_path) -> None:
    with pytest.raises(ValueError, match="config: loss.start_from: got .*finished run directory"):
        make_config({"loss": {"start_from": str(tmp_path)}})


@pytest.mark.parametrize("edit, message", [
    ({"vector": [float("nan"), 0.7]}, "best.json: vector.0: got nan"),
    ({"vector": [0.1]}, "best.json: 'vector' has 1 entries; the run's search space has 2"),
    ({"vector": [50.0, 0.7]}, "best.json: 'vector' entry base.log_beta = 50 outside its box"),
    ({"vector_names": ["a", "b"]}, "best.json: 'vector_names' do not match"),
])
def test_a_bad_first_stage_best_json_is_one_clear_error(tmp_path, edit, message) -> None:
    # read with the checks of discovery.load, so a staged search never starts from an edited or corrupt loss
    run = _stage_one(tmp_path)
    best = json.loads((run / "best.json").read_text())
    (run / "best.json").write_text(json.dumps({**best, **edit}))
    with pytest.raises(ValueError) as err:
        run_point(str(run))
    assert message in str(err.value)
    (run / "best.json").unlink()
    with pytest.raises(FileNotFoundError, match="loss.start_from: .*best.json does not exist"):
        run_point(str(run))
