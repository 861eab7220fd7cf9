"""The discovery study on the tiny fixture: a killed study resumes to the numbers of an uninterrupted one,
the search starts at the tuned start and always offers it to the selection, and the report is written."""
import json

import numpy as np
import pytest

import discovery.study.run as study_run
from discovery.select import START
from discovery.study.plan import study_plan
from discovery.study.report import closed_form, moved, write_study_report
from discovery.suite.plan import suite_plan
from envs import runtime
from search_spaces.points import mpo_point
from tests.sharded_search import TINY_DATA

runtime.enable_compilation_cache()

PLAN = dict(task="hopper", targets=("clean",), variant="subspace", variant_setting="clean", variants=("subspace",),
            population=2, generations=2, seeds=1, episodes=1, top_k=1, select_seeds=1, select_episodes=1,
            transfer_tasks=(), text_setting=None)
SUITE = dict(panel=("sigmoid", "ipo_sum"), beta_scales=(1.0,), learning_rates=(1e-3,), validation_seeds=1,
             test_seeds=2, episodes=1, steps=2, batch_size=4, chunk=0)


class Killed(Exception):
    pass


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setattr(study_run, "dataset_dir", lambda task, setting: TINY_DATA)
    return study_plan(**PLAN), suite_plan(**SUITE)


@pytest.mark.slow  # about 2 minutes of compiles (suite, search, selection and test programs)
def test_a_killed_study_resumes_to_the_same_numbers(tiny, tmp_path, monkeypatch) -> None:
    plan, suite = tiny
    cache = tmp_path / "suite_runs"
    full = study_run.run_target(plan, suite, "clean", "subspace", tmp_path / "full", cache, lambda s: None)
    # the search starts at the best tuned panel loss (by validation), at its tuned beta and learning rate
    assert full["start"]["loss"] == full["best_zoo"] == full["config"]["loss"]["init"]
    assert full["config"]["inner"]["learning_rate"] == full["tuned"][full["best_zoo"]]["lr"]
    assert {"tuned sigmoid", f"tuned {full['best_zoo']}"} <= set(full["test"])
    labels = [c["label"] for c in full["best"]["selection"]["candidates"]]
    assert START in labels  # the start is always a candidate of the final selection
    assert all(line["control"] is not None for line in full["log"])

    real = study_run.run_search

    def killed_after_one(cfg, out, **kw):  # a kill after the first generation's checkpoint
        real(cfg, out, stop_after=1, **kw)
        raise Killed

    monkeypatch.setattr(study_run, "run_search", killed_after_one)
    with pytest.raises(Killed):
        study_run.run_target(plan, suite, "clean", "subspace", tmp_path / "part", cache, lambda s: None)
    assert not list((tmp_path / "part" / "results").glob("*.json"))  # no result of a killed piece
    monkeypatch.setattr(study_run, "run_search", real)
    logs = []
    resumed = study_run.run_target(plan, suite, "clean", "subspace", tmp_path / "part", cache, logs.append)
    assert any("resuming" in s for s in logs)
    assert resumed["best"]["vector"] == full["best"]["vector"]
    for name in resumed["test"]:
        np.testing.assert_array_equal(resumed["test"][name]["fitness"], full["test"][name]["fitness"])
    # a finished piece is reused, not recomputed
    logs.clear()
    study_run.run_target(plan, suite, "clean", "subspace", tmp_path / "part", cache, logs.append)
    assert any("reusing" in s and "results" in s for s in logs)

    summary = write_study_report(plan, suite, tmp_path / "part", cache, tmp_path / "discovery.md", lambda s: None)
    text = (tmp_path / "discovery.md").read_text()
    assert "## Targets" in text and "## Search protocols" in text and "closed form, tau = 1" in text
    assert set(summary["targets"]) == {"clean"} and (tmp_path / "discovery" / "curves.png").exists()
    json.loads((tmp_path / "discovery.json").read_text())

    # a run directory whose config is not the plan's is refused, not silently reused
    name = study_run.piece_name("hopper", "clean", "subspace", full["start"]["loss"])
    (tmp_path / "full" / "results" / f"{name}.json").unlink()
    cfg_file = tmp_path / "full" / "runs" / name / "config.json"
    cfg_file.write_text(json.dumps({**json.loads(cfg_file.read_text()), "generations": 9}))
    with pytest.raises(ValueError, match="another config"):
        study_run.run_target(plan, suite, "clean", "subspace", tmp_path / "full", cache, lambda s: None)


def test_closed_form_and_moved_coefficients() -> None:
    dpo = mpo_point("sigmoid", beta=0.1)
    assert closed_form(dpo, 0.0) == ("s(y) = Σ_t log p; m(u) = 1·u; r(y) = 0.1·(m(s_π) − 1·m(s_ref)); "
                                     "z = r_w − r_l; L = 1·[1·logistic(z)]")
    slic = closed_form(mpo_point("hinge", beta=0.1), 0.0)
    assert "hinge(z)" in slic and "logistic" not in slic
    assert moved(dpo, dpo) == []
    assert moved(dpo, mpo_point("sigmoid", beta=0.3)) == ["beta 0.1 → 0.3 (tau=0)"]  # no slope: tau = 1 is the same


def test_the_plan_refuses_unknown_variants() -> None:
    with pytest.raises(ValueError, match="study: variant: got 'fancy'"):
        study_plan(variant="fancy")


def test_a_killed_search_is_resumed_a_finished_one_reused_an_empty_one_restarted(tmp_path, monkeypatch) -> None:
    """The study's resume decisions (the slow test above runs them on real searches)."""
    from discovery import checkpoint

    calls = []

    def fake_search(cfg, out, resume=False, **kw):
        calls.append((cfg is None, resume))
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(CFG))
        (out / "best.json").write_text(json.dumps({"vector": [0.5]}))
        (out / "log.jsonl").write_text(json.dumps({"generation": 0}) + "\n")

    from discovery.config import make_config

    CFG = make_config({"name": "x", "generations": 2})
    monkeypatch.setattr(study_run, "run_search", fake_search)
    run = tmp_path / "run"
    # stopped before its first checkpoint: only config.json was written -> started again from scratch
    run.mkdir()
    (run / "config.json").write_text(json.dumps(CFG))
    (run / "stale").write_text("")
    out = study_run.searched(run, CFG, lambda s: None)
    assert calls == [(False, False)] and not (run / "stale").exists() and out["best"] == {"vector": [0.5]}
    # finished: reused, nothing runs
    study_run.searched(run, CFG, lambda s: None)
    assert len(calls) == 1
    # killed after a checkpoint: resumed from it (config None: the run directory's own config)
    (run / "best.json").unlink()
    mngr = checkpoint.manager(run)
    checkpoint.save(mngr, 1, {"generation": np.asarray(1, np.int32)})
    study_run.searched(run, CFG, lambda s: None)
    assert calls[-1] == (True, True)


@pytest.mark.parametrize("variant", list(study_run.VARIANTS))
def test_every_protocol_makes_a_valid_search_of_its_coordinates(variant, tiny) -> None:
    """Each registered protocol's search config passes the schema and searches exactly its fields (the full
    53-coordinate vector when it names none), with its step size and trust region."""
    from discovery.engine import search_space

    plan, suite = tiny
    v = study_run.VARIANTS[variant]
    tuned = {"sigmoid": {"beta": 0.1, "lr": 3e-3, "validation": 80.0}}
    cfg = study_run.search_config(plan, suite, "clean", tuned, variant, "sigmoid")
    assert cfg["strategy"]["sigma"] == v["sigma"] and cfg["strategy"]["trust_region"] == v["trust_region"]
    assert cfg["inner"]["learning_rate"] == 3e-3 and cfg["loss"]["init_hparams"] == {"beta": 0.1}
    names = search_space(cfg).names()
    if v["fields"] is None:
        assert len(names) == 53, len(names)
    else:
        base = {n.split(".")[1].split("[")[0] for n in names if n.startswith("base.")}
        slope = {n.split(".")[1].split("[")[0] for n in names if n.startswith("slope.")}
        assert base == set(v["fields"]) and slope == set(v["temporal"]), names
