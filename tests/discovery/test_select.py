"""The final selection: the top-k of the run, the ES mean and the start re-scored on validation seeds, the
final loss chosen by that score, never by the search-time max; key streams never meet."""
import json

import jax
import numpy as np
import pytest

from discovery.config import load_config
from discovery.search import generation_key, run_search
from discovery.select import MEAN, START, candidates, pick, update_top
from discovery.streams import (
    HELDOUT_STREAM,
    INIT_STREAM,
    TEST_STREAM,
    VALIDATION_STREAM,
    stream_key,
)
from envs import runtime
from tests.sharded_search import TINY


def test_top_k_keeps_the_best_finite_candidates_of_the_whole_run() -> None:
    k, d = 3, 2
    top = (np.zeros((k, d), np.float32), np.full(k, -np.inf, np.float32), np.full(k, -1, np.int32))
    top = update_top(*top, np.array([[0, 0], [1, 1], [2, 2]], np.float32), np.array([5.0, np.nan, 7.0]), 0)
    assert top[1].tolist() == [7.0, 5.0, -np.inf] and top[2].tolist() == [0, 0, -1]
    top = update_top(*top, np.array([[3, 3], [4, 4]], np.float32), np.array([6.0, 5.0]), 1)
    assert top[1].tolist() == [7.0, 6.0, 5.0]
    assert top[0][:, 0].tolist() == [2.0, 3.0, 0.0]  # a tie keeps the earlier candidate
    assert top[2].tolist() == [0, 1, 0]


def test_the_start_is_always_a_candidate_and_the_validation_score_decides() -> None:
    state = {"top_x": np.eye(3, dtype=np.float32), "top_fitness": np.array([90.0, 80.0, -np.inf], np.float32),
             "top_generation": np.array([4, 2, -1], np.int32)}
    cands = candidates(state, np.full(3, 0.5), np.full(3, 0.4))
    assert [c["label"] for c in cands] == [START, MEAN, "top 1", "top 2"]  # the unfilled slot is left out
    # search-time: top 1 (90) > top 2 (80); validation says otherwise (the winner's curse)
    validation = np.array([[60.0, 62.0], [55.0, 57.0], [58.0, 59.0], [70.0, 71.0]])
    assert pick(validation) == 3
    # a failed validation run makes a candidate the worst; ties go to the start
    assert pick(np.array([[60.0, 60.0], [60.0, 60.0], [np.nan, 99.0]])) == 0


def test_key_streams_never_coincide() -> None:
    seed = 7
    streams = [stream_key(seed, s) for s in (INIT_STREAM, HELDOUT_STREAM, VALIDATION_STREAM, TEST_STREAM)]
    gens = [generation_key(seed, g) for g in range(2000)]
    data = {tuple(np.asarray(jax.random.key_data(k)).tolist()) for k in streams + gens}
    assert len(data) == len(streams) + len(gens)
    # and the seeds drawn from validation and test never coincide either
    val = jax.random.key_data(jax.random.split(stream_key(seed, VALIDATION_STREAM), 64))
    test = jax.random.key_data(jax.random.split(stream_key(seed, TEST_STREAM), 64))
    assert not ({tuple(r) for r in np.asarray(val).tolist()} & {tuple(r) for r in np.asarray(test).tolist()})


@pytest.mark.slow
def test_search_selects_on_validation_and_reports_on_test_seeds(tmp_path) -> None:
    runtime.enable_compilation_cache()
    cfg = load_config(None, TINY + ["select.top_k=3", "select.seeds=2", "select.episodes=1", "report.seeds=2",
                                    "report.episodes=1", 'report.baselines=["sigmoid"]'])
    result = run_search(cfg, tmp_path / "run", quiet=True)
    best = json.loads((tmp_path / "run" / "best.json").read_text())
    labels = [c["label"] for c in best["selection"]["candidates"]]
    assert labels[:2] == [START, MEAN] and len(labels) == 5
    chosen = best["selection"]["candidates"][result["selection"]["chosen"]]
    assert best["chosen"] == chosen["label"]
    assert chosen["validation_fitness"] == max(c["validation_fitness"] for c in best["selection"]["candidates"])
    report = (tmp_path / "run" / "report.md").read_text()
    assert "## Final selection" in report and f"TEST_STREAM={TEST_STREAM}" in report
    assert "| start (sigmoid) |" in report and "vs reference policy (no fine-tuning) (paired)" in report
    assert "\n| sigmoid |" not in report  # the baseline that is the start is not scored twice
    assert "paired against the search's start, sigmoid: Rafailov et al. 2023" in report
