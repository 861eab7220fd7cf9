"""The suite's selection and statistics on synthetic results (no inner runs): tuning picks by validation,
paired intervals, separated pairs, the noise claim."""
from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pytest

from discovery.suite.evaluate import choose, finalists, grid_cells
from discovery.suite.plan import SuitePlan, suite_plan
from discovery.suite.run import flip_settings, resampled_settings, run_suite, write_report
from discovery.suite.settings import RESAMPLED, SUITE, setting_source
from discovery.suite.table import criteria, paired, separated_pairs, setting_markdown


def test_choose_takes_the_best_validation_mean_and_treats_a_failed_run_as_worst() -> None:
    plan = SuitePlan(panel=("sigmoid", "ipo_sum"), beta_scales=(0.5, 2.0), learning_rates=(1e-3,))
    cells = grid_cells(plan)
    assert [(c["loss"], c["beta"]) for c in cells] == [("sigmoid", 0.05), ("sigmoid", 0.2), ("ipo_sum", 0.05),
                                                       ("ipo_sum", 0.2)]
    fit = np.array([[10.0, 12.0], [11.0, 30.0], [50.0, np.nan], [5.0, 6.0]])
    tuned = choose(cells, fit, plan.panel)
    assert tuned["sigmoid"]["beta"] == 0.2 and tuned["sigmoid"]["validation"] == pytest.approx(20.5)
    assert tuned["ipo_sum"]["beta"] == 0.2  # the cell with the higher mean had a NaN run


def test_the_second_look_rescores_each_losss_best_cells_and_chooses_on_all_their_seeds() -> None:
    plan = SuitePlan(panel=("sigmoid", "ipo_sum"), beta_scales=(0.5, 1.0, 2.0), learning_rates=(1e-3,))
    cells = grid_cells(plan)
    first = np.array([[30.0, 30.0], [20.0, 22.0], [25.0, 25.0], [1.0, 1.0], [2.0, np.nan], [3.0, 3.0]])
    top = finalists(cells, first, plan.panel, 2)
    assert top == [0, 2, 5, 3]  # per loss, best first; a failed run ranks a cell last
    more = np.array([[0.0, 0.0], [40.0, 40.0], [3.0, 3.0], [9.0, 9.0]])  # beta 0.5 of sigmoid was lucky
    tuned = choose([cells[i] for i in top], np.concatenate([first[top], more], axis=1), plan.panel)
    assert tuned["sigmoid"]["beta"] == pytest.approx(0.2) and tuned["sigmoid"]["validation"] == pytest.approx(32.5)
    assert tuned["ipo_sum"]["beta"] == pytest.approx(0.05) and tuned["ipo_sum"]["validation"] == pytest.approx(5.0)


def test_the_second_looks_keys_extend_the_first_stages() -> None:
    """What makes a finalist's mean the one a full tuning on confirm_seeds would give: split's prefix."""
    key = jax.random.key(3)
    assert np.array_equal(jax.random.key_data(jax.random.split(key, 12)[:4]),
                          jax.random.key_data(jax.random.split(key, 4)))


def test_paired_interval_uses_per_seed_differences() -> None:
    a = np.array([10.0, 20.0, 30.0, 40.0])
    m, h = paired(a + 1.0, a)  # identical noise: the difference is exactly 1 with no spread
    assert m == pytest.approx(1.0) and h == pytest.approx(0.0)
    m2, h2 = paired(a, a[::-1])
    assert m2 == pytest.approx(0.0) and h2 > 10


def _result(scores: dict[str, list[float]], ref: list[float], flip: float = 0.0) -> dict:
    return {"plan": {"baseline": "sigmoid"}, "properties": {"flip_eps": flip, "setting": "x", "horizon": 48},
            "tuned": {n: {"beta": 0.1, "lr": 1e-3, "validation": float(np.mean(s))} for n, s in scores.items()},
            "test": {"reference": {"fitness": ref}, **{n: {"fitness": s} for n, s in scores.items()}}}


@pytest.mark.parametrize("row", ["hopper__high-temperature", "walker2d__clean"])
def test_a_shipped_row_renders_every_field(row) -> None:
    # one row with the second look and its machine, one without either
    result = json.loads((Path(__file__).parents[3] / "experiments/reports/suite_runs" / f"{row}.json").read_text())
    text = setting_markdown(*row.split("__"), result)
    assert "{" not in text and "}" not in text, text.splitlines()[2]
    assert f"scored on {result['plan']['test_seeds']} test seeds ({result['seeds']['test']})" in text
    # a header, a rule and one line per scored policy
    assert sum(line.startswith("|") for line in text.splitlines()) == 2 + len(result["test"])


def test_separated_pairs_and_the_noise_claim() -> None:
    rng = np.random.default_rng(0)
    ref = list(50 + rng.normal(0, 5, 16))
    noise = rng.normal(0, 1, 16)
    res = {"clean": _result({"sigmoid": list(np.add(ref, 25) + noise), "hinge": list(np.add(ref, 24) + noise)}, ref)}
    for eps, gain in ((0.1, 20), (0.2, 12), (0.3, 5), (0.4, 3)):
        res[f"noisy-{eps}"] = _result({"sigmoid": list(np.add(ref, gain) + noise), "hinge": list(np.add(ref, 20) + noise)},
                                      ref, eps)
    flips = flip_settings(res)
    assert flips == {0.0: "clean", 0.1: "noisy-0.1", 0.2: "noisy-0.2", 0.3: "noisy-0.3", 0.4: "noisy-0.4"}
    pairs = separated_pairs(res["noisy-0.3"])
    assert pairs[0][:2] == ("hinge", "sigmoid") and pairs[0][2] == pytest.approx(15.0)
    claims = {c["claim"].split(":")[0]: c for c in criteria("hopper", res, flips, ["noisy-0.3"])}
    assert claims["clean"]["holds"] and claims["noise matters"]["holds"]
    assert claims["noisy-0.3 separates the panel"]["holds"]
    # each step of the curve is a paired difference on the shared test keys: here exactly the gains' steps
    assert "paired steps 0.0 -> 0.1: -5.0 ± 0.0, 0.1 -> 0.2: -8.0 ± 0.0, 0.2 -> 0.3: -7.0 ± 0.0, 0.3 -> 0.4: -2.0 ± 0.0" \
        in claims["noise matters"]["measured"]
    # a panel of one loss has no pair to separate: its separation claim is not made (it would read "no")
    one = {s: _result({"sigmoid": r["test"]["sigmoid"]["fitness"]}, ref, r["properties"]["flip_eps"]) for s, r in res.items()}
    one_claims = [c["claim"] for c in criteria("hopper", one, flip_settings(one), ["noisy-0.3"])]
    assert not any("separates" in c for c in one_claims) and any(c.startswith("noise matters") for c in one_claims)
    # the same data with a flat gain at 0.3: the noise claim must fail; and with a flip rate missing, too
    flat = dict(res, **{"noisy-0.3": _result({"sigmoid": list(np.add(ref, 25) + noise),
                                               "hinge": list(np.add(ref, 24) + noise)}, ref, 0.3)})
    flat_claims = {c["claim"].split(":")[0]: c for c in criteria("hopper", flat, flip_settings(flat), [])}
    assert not flat_claims["noise matters"]["holds"]
    part = {k: v for k, v in res.items() if k in ("clean", "noisy-0.3")}
    part_claim = [c for c in criteria("hopper", part, flip_settings(part), []) if c["claim"].startswith("noise")][0]
    assert not part_claim["holds"] and "not checked: eps 0.1, 0.2, 0.4 not run" in part_claim["measured"]


def test_the_resampled_curve_is_its_own_noise_claim() -> None:
    """flips-EPS results (clean's data, label_flip EPS) form a second curve: they never enter the dataset curve
    (their properties are clean's, flip_eps 0) and their claim is named apart."""
    rng = np.random.default_rng(1)
    ref = list(50 + rng.normal(0, 5, 8))
    res = {"clean": {**_result({"sigmoid": list(np.add(ref, 30))}, ref), "checksum": "c"}}
    for eps, gain in ((0.1, 25), (0.2, 18), (0.3, 12), (0.4, 4)):
        res[f"flips-{eps}"] = {**_result({"sigmoid": list(np.add(ref, gain))}, ref), "checksum": "c", "label_flip": eps}
    res["noisy-0.3"] = _result({"sigmoid": list(np.add(ref, 29))}, ref, 0.3)
    assert flip_settings(res) == {0.0: "clean", 0.3: "noisy-0.3"}
    assert resampled_settings(res) == {0.0: "clean", 0.1: "flips-0.1", 0.2: "flips-0.2", 0.3: "flips-0.3",
                                       0.4: "flips-0.4"}
    claims = {c["claim"].split(":")[0]: c for c in criteria("hopper", res, flip_settings(res), [],
                                                            resampled_settings(res))}
    assert not claims["noise matters"]["holds"]  # one dataset per rate, 0.1 .. 0.4 partly not run
    per_run = claims["noise matters, a fresh flip realization per inner run"]
    assert per_run["holds"] and "clean - 0.3 = 18.0" in per_run["measured"]
    # another dataset under the same name (a changed checksum) is not on clean's curve
    res["flips-0.2"]["checksum"] = "other"
    assert 0.2 not in resampled_settings(res)


def test_the_suite_measures_noise_on_resampled_flips_of_clean() -> None:
    from envs.mujoco.settings import setting_names

    assert [s for s in SUITE if s in RESAMPLED] == list(RESAMPLED)  # the whole curve 0.1 .. 0.4
    assert {setting_source(s) for s in RESAMPLED} == {("clean", eps) for eps in (0.1, 0.2, 0.3, 0.4)}
    assert setting_source("mixed-quality") == ("mixed-quality", 0.0)
    assert all(setting_source(s)[0] in setting_names() for s in SUITE)  # every one trains on a named dataset


def test_a_one_loss_panel_is_a_plan() -> None:
    assert suite_plan(panel=("sigmoid",)).panel == ("sigmoid",)  # e.g. DPO's noise curve on many seeds


@pytest.mark.parametrize("fields, message", [
    ({"panel": ("sigmoid", "exo_pair")}, "suite: panel: got ('sigmoid', 'exo_pair'); allowed: zoo losses that are MPO"),
    ({"panel": ()}, "suite: panel: got (); allowed: a non-empty list"),
    ({"test_seeds": 1}, "suite: test_seeds: got 1; allowed: an integer >= 2"),
    ({"episodes": True}, "suite: episodes: got True; allowed: an integer"),
    ({"beta_scales": (0.0,)}, "suite: beta_scales: got (0.0,); allowed: values > 0"),
    ({"baseline": "hinge", "panel": ("sigmoid", "ipo_sum")}, "suite: baseline: got 'hinge'; allowed: a loss of the panel"),
    ({"bogus": 1}, "suite: unknown key 'bogus'"),
    ({"confirm_cells": 7}, "suite: confirm_cells: got 7; allowed: 0 to the grid's cells per loss (6)"),
    ({"confirm_cells": 2, "confirm_seeds": 4}, "suite: confirm_seeds: got 4; allowed: more than validation_seeds (4)"),
])
def test_a_bad_plan_is_one_clear_error(fields, message) -> None:
    with pytest.raises(ValueError) as err:
        suite_plan(**fields)
    assert str(err.value).startswith(message)


def _cache_walker2d_clean(cache, plan: SuitePlan, checksum: str) -> None:
    """A complete cached result (everything the report reads) of walker2d/clean under `plan`."""
    ref = [50.0 + i for i in range(4)]
    r = _result({"sigmoid": [x + 3 for x in ref], "hinge": [x + 1 for x in ref]}, ref)
    r.update(plan=plan.to_json(), checksum=checksum, dataset="data", seeds={"validation": "v", "test": "t"},
             seconds={"total": 1.0})
    for name in ("sigmoid", "hinge"):
        r["test"][name].update(kl=[0.1] * 4, nan=[0] * 4)
    cache.mkdir()
    (cache / "walker2d__clean.json").write_text(json.dumps(r))


def test_a_task_with_its_own_plan_reuses_only_results_of_that_plan(tmp_path) -> None:
    """--task-steps: a task's cached setting is reused under its own plan and named in the report; a result
    cached under the shared plan is not taken for it (the logged line says it is recomputed)."""
    plan, long = suite_plan(panel=("sigmoid", "hinge")), suite_plan(panel=("sigmoid", "hinge"), steps=800)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "manifest.json").write_text(json.dumps({"checksum": "abc"}))
    _cache_walker2d_clean(tmp_path / "cache", long, "abc")
    logged: list[str] = []
    out = run_suite([("walker2d", "clean", tmp_path / "data")], plan, tmp_path / "cache", logged.append,
                    task_plans={"walker2d": long})
    assert out["walker2d"]["clean"]["plan"]["steps"] == 800 and logged == [
        f"walker2d/clean: reusing {tmp_path / 'cache' / 'walker2d__clean.json'}"]
    summary = write_report(out, plan, tmp_path / "suite.md", "mpo data suite", task_plans={"walker2d": long})
    text = (tmp_path / "suite.md").read_text()
    assert "walker2d has its own plan: steps 800." in text and "inner runs of 800 steps x 32 pairs" in text
    assert summary["task_plans"]["walker2d"]["steps"] == 800

    class Recomputes(Exception):
        pass

    def stop_at_recompute(msg: str) -> None:
        if msg.endswith("recomputing"):
            raise Recomputes(msg)

    # the same cache under the shared plan (200 steps) is stale for walker2d: it would be recomputed
    with pytest.raises(Recomputes, match="was made with another plan or dataset"):
        run_suite([("walker2d", "clean", tmp_path / "data")], plan, tmp_path / "cache", stop_at_recompute)


def test_cached_only_reports_what_is_done_and_computes_nothing(tmp_path) -> None:
    """--cached-only: a setting whose cached result was made under another plan, or that has none, is left out
    (no inner run: the fake dataset would fail one), the others are returned."""
    plan = suite_plan(panel=("sigmoid", "hinge"))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "manifest.json").write_text(json.dumps({"checksum": "abc"}))
    ref = [50.0 + i for i in range(4)]
    r = _result({"sigmoid": [x + 3 for x in ref], "hinge": [x + 1 for x in ref]}, ref)
    r.update(plan=plan.to_json(), checksum="abc")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "hopper__clean.json").write_text(json.dumps(r))
    (tmp_path / "cache" / "hopper__noisy-0.3.json").write_text(json.dumps({**r, "checksum": "old"}))
    specs = [("hopper", s, tmp_path / "data") for s in ("clean", "noisy-0.3", "noisy-0.1")]
    logged: list[str] = []
    out = run_suite(specs, plan, tmp_path / "cache", logged.append, compute=False)
    assert list(out["hopper"]) == ["clean"]
    assert any(line.endswith("another plan or dataset; left out") for line in logged)


def test_cached_only_reports_a_result_whose_dataset_is_not_on_this_machine(tmp_path) -> None:
    """A fresh clone has no walker2d data: --cached-only reports the cached result under the plan, marked as
    such in the report; a setting with neither dataset nor result is left out; computing still needs the data."""
    plan = suite_plan(panel=("sigmoid", "hinge"))
    _cache_walker2d_clean(tmp_path / "cache", plan, "eefb31f4abcd")
    specs = [("walker2d", s, tmp_path / "absent" / s) for s in ("clean", "noisy-0.1")]
    logged: list[str] = []
    out = run_suite(specs, plan, tmp_path / "cache", logged.append, compute=False)
    assert list(out["walker2d"]) == ["clean"] and out["walker2d"]["clean"]["dataset_here"] is False
    assert "not on this machine" in logged[0] and "eefb31f4abcd" in logged[0]
    assert "dataset_here" not in json.loads((tmp_path / "cache" / "walker2d__clean.json").read_text())
    write_report(out, plan, tmp_path / "suite.md", "mpo data suite")
    assert "their datasets not on the machine that wrote this report" in (tmp_path / "suite.md").read_text()
    assert "walker2d/clean (eefb31f4)" in (tmp_path / "suite.md").read_text()
    with pytest.raises(FileNotFoundError, match="make it with"):
        run_suite(specs, plan, tmp_path / "cache", logged.append)


def _cached(tmp_path, plan: dict) -> dict:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "manifest.json").write_text(json.dumps({"checksum": "abc"}))
    ref = [50.0 + i for i in range(4)]
    r = _result({"sigmoid": [x + 3 for x in ref], "hinge": [x + 1 for x in ref]}, ref)
    r.update(plan=plan, checksum="abc", grid={"cells": "the first stage"})
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "hopper__clean.json").write_text(json.dumps(r))
    return r


def test_a_result_recorded_before_the_confirmation_fields_is_the_default_plans(tmp_path) -> None:
    plan = suite_plan(panel=("sigmoid", "hinge"))
    old = {k: v for k, v in plan.to_json().items() if not k.startswith("confirm")}
    _cached(tmp_path, old)
    logged: list[str] = []
    out = run_suite([("hopper", "clean", tmp_path / "data")], plan, tmp_path / "cache", logged.append)
    assert out["hopper"]["clean"]["plan"] == old and logged[0].startswith("hopper/clean: reusing")


@pytest.mark.parametrize("change, machine, reused", [
    ({"confirm_cells": 2}, "here", True),
    ({"confirm_cells": 2, "steps": 100}, "here", False),
    ({"confirm_cells": 2}, "another CPU", False),
    ({"confirm_cells": 2}, None, False),  # a result that does not name its machine
])
def test_a_changed_confirmation_reuses_the_first_stage_only(tmp_path, monkeypatch, change, machine, reused) -> None:
    """Only the second look differs, on the same machine: the cached first stage goes to run_setting (the same
    runs on the same keys); any other change, or another or an unknown machine, recomputes everything."""
    import discovery.suite.run as run_mod
    from envs.runtime import versions

    r = _cached(tmp_path, suite_plan(panel=("sigmoid", "hinge")).to_json())
    if machine is not None:
        r["versions"] = versions() if machine == "here" else {**versions(), "cpu": machine}
        (tmp_path / "cache" / "hopper__clean.json").write_text(json.dumps(r))
    calls = []
    monkeypatch.setattr(run_mod, "run_setting", lambda dataset, plan, log, flip, grid: calls.append(grid) or {
        "seconds": {"total": 0.0}})
    logged: list[str] = []
    run_suite([("hopper", "clean", tmp_path / "data")], suite_plan(panel=("sigmoid", "hinge"), **change),
              tmp_path / "cache", logged.append)
    assert calls == [{"cells": "the first stage"} if reused else None]
    assert ("first stage is reused" in logged[0]) == reused
