"""Return-to-go labels (DatasetConfig.label_value): on a tiny run with untrained experts, T = 0 labels pick
the response with the higher stored value, flips happen at the set rate, and the prompts/responses are
those of the segment-labelled dataset of the same seed. Generating them compiles two MJX programs (about
110 s cold on 2 cores), so those tests are slow; the always-on checks of the same properties run on the
shipped v2 datasets (test_shipped.py: chosen value >= rejected value, flips exactly the disagreements,
nested across flip rates and inside the binomial range)."""
import jax
import numpy as np
import pytest
from scipy import stats

from envs import dataset_io, runtime
from envs.mujoco import experts, preferences, settings

runtime.enable_compilation_cache()

TINY = {"n_pairs": 256, "horizon": 4, "prompt_max_step": 3, "episode_length": 16, "response_levels": ("q10", "q100")}
RTG = {"label_value": "return-to-go", "value_level": "q50"}


@pytest.fixture(scope="module")
def ex():
    return experts.untrained_experts("hopper", jax.random.PRNGKey(0))


def _pairs(ex, **kw):
    cfg = settings.DatasetConfig(task="hopper", **{**TINY, **kw})
    return preferences.generate_pairs(cfg, ex, jax.random.PRNGKey(3))


@pytest.fixture(scope="module")
def clean(ex):
    return _pairs(ex, **RTG)


@pytest.mark.slow
def test_temperature_zero_chosen_has_higher_value(clean):
    p = clean
    assert np.all(p["chosen_value"] >= p["rejected_value"])
    assert np.mean(p["chosen_value"] > p["rejected_value"]) > 0.9  # continuous values: ties are rare
    assert not np.any(p["flipped"])
    # the value is segment return plus a continuation; a segment that terminated early continues with 0
    for side in ("chosen", "rejected"):
        ended = p[f"{side}_length"] < TINY["horizon"]
        np.testing.assert_allclose(p[f"{side}_value"][ended], p[f"{side}_return"][ended], atol=1e-4)
    assert np.any(np.abs(p["chosen_value"] - p["chosen_return"]) > 1e-3)  # continuation is not zero


@pytest.mark.slow
def test_flips_at_set_rate_and_same_responses(ex, clean):
    eps = 0.3
    noisy = _pairs(ex, flip_eps=eps, **RTG)
    n = TINY["n_pairs"]
    lo, hi = stats.binom.interval(0.999, n, eps)
    assert lo / n <= noisy["flipped"].mean() <= hi / n
    # a flip is exactly a label against the higher value; otherwise the label is the clean one
    assert not np.any((noisy["chosen_value"] < noisy["rejected_value"])[~noisy["flipped"]])
    untied = noisy["chosen_value"] != noisy["rejected_value"]
    assert np.all((noisy["chosen_value"] < noisy["rejected_value"])[untied] == noisy["flipped"][untied])
    # same prompts, responses and values as the clean dataset: only the labels differ
    np.testing.assert_array_equal(noisy["prompt_obs"], clean["prompt_obs"])
    pair_vals = lambda d: np.sort(np.stack([d["chosen_value"], d["rejected_value"]], -1), -1)
    np.testing.assert_array_equal(pair_vals(noisy), pair_vals(clean))


@pytest.mark.slow
def test_segment_labels_unchanged_and_hold_no_values(ex, clean):
    seg = _pairs(ex)
    assert "chosen_value" not in seg
    assert np.all(seg["chosen_return"] >= seg["rejected_return"])
    # the same responses as the return-to-go dataset of the seed (labels may order them differently)
    rets = lambda d: np.sort(np.stack([d["chosen_return"], d["rejected_return"]], -1), -1)
    np.testing.assert_array_equal(rets(seg), rets(clean))


def test_schema_and_config_checks():
    s = {"n_pairs": 2, "horizon": 3, "obs_dim": 4, "act_dim": 2, "n_bins": 5, "nq": 3, "nv": 3, "n_sft": 1}
    assert "chosen_value" not in dataset_io.pair_schema(s)
    assert dataset_io.pair_schema(s, "return-to-go")["rejected_value"] == ((2,), "float32")
    assert dataset_io.label_value_of({"properties": {}}) == "segment"  # datasets made before the field
    with pytest.raises(ValueError, match="label_value.*segment \\| return-to-go"):
        settings.DatasetConfig(label_value="episode")
    with pytest.raises(ValueError, match="value_samples"):
        settings.DatasetConfig(value_samples=0)
    with pytest.raises(ValueError, match="value_horizon"):
        settings.DatasetConfig(value_horizon=-1)
    assert settings.DatasetConfig().label_value == "segment"
    assert preferences.value_length(settings.DatasetConfig(horizon=48, episode_length=400)) == 352
    assert preferences.value_length(settings.DatasetConfig(horizon=48, value_horizon=100)) == 100
