"""The text task: the true reward's structure, SFT between random and optimum, and the labeller's statistics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs import runtime
from envs.dataset_io import load_dataset
from envs.text import policy as tpol
from envs.text import task as tt
from envs.text.build import biased_reward, label_pairs
from envs.text.settings import make_config
from tests.helpers import DATA

runtime.enable_compilation_cache()
TEXT = DATA / "text"
TASK = tt.TextTask()


def _resp(tokens):
    return jnp.asarray([list(tokens) + [tt.EOS] * (TASK.max_len - len(tokens))], jnp.int32)


def test_true_reward_rewards_targets_in_order_and_charges_extra_tokens():
    prompt = jnp.asarray([[2, 5, 7, 9]], jnp.int32)
    tgt = [int(t) for t in tt.targets(TASK, prompt)[0]]
    r = lambda toks: float(tt.true_reward(TASK, prompt, _resp(toks))[0])  # noqa: E731
    assert r(tgt) == pytest.approx(1.0)
    assert r(tgt[::-1]) == pytest.approx(0.5)  # every target present, none in place (targets are distinct here)
    assert r(tgt[:2]) == pytest.approx(0.5)  # half the targets, in place
    assert r(tgt + [tgt[0], tgt[1]]) == pytest.approx(1.0 - 2 * TASK.extra_cost)  # rambling costs
    # tokens after the first EOS do not count
    assert r(tgt[:2] + [tt.EOS] + tgt[2:]) == pytest.approx(0.5)
    never_stops = jnp.asarray([tgt + [tgt[0]] * (TASK.max_len - 4)], jnp.int32)
    assert int(tt.content_length(never_stops)[0]) == TASK.max_len


def test_sft_samples_score_between_random_and_optimum():
    ds = load_dataset(TEXT / "clean")
    task = tt.TextTask.from_json(ds.manifest["task"])
    spec, apply = ds.reference_spec, tpol.make_apply(ds.reference_spec)
    k_p, k_s, k_r = jax.random.split(jax.random.key(11), 3)
    prompts = tt.sample_prompts(task, k_p, 512)
    toks, mask = jax.jit(lambda p: tpol.sample(apply, spec, p, prompts, k_s))(ds.reference_params)
    sft = np.asarray(tt.true_reward(task, prompts, toks))
    rand = np.asarray(tt.true_reward(task, prompts, tt.random_responses(task, k_r, 512)))
    opt = np.asarray(tt.true_reward(task, prompts, tt.optimal_response(task, prompts)))
    se = np.sqrt(sft.var() / sft.size + rand.var() / rand.size)
    assert np.all(opt == 1.0)
    assert sft.mean() - rand.mean() > 5 * se, (sft.mean(), rand.mean())
    assert 1.0 - sft.mean() > 5 * sft.std() / np.sqrt(sft.size), sft.mean()
    # responses of varying length, stopped at EOS, nothing but EOS after it
    lengths = np.asarray(tt.content_length(toks))
    assert len(np.unique(lengths)) >= 4
    assert np.all(np.asarray(toks)[~np.asarray(mask)] == tt.EOS)
    # the manifest's SFT reward is the same policy measured on other prompts
    assert abs(sft.mean() - ds.manifest["task"]["sft_reward"]) < 4 * sft.std() / np.sqrt(sft.size)


@pytest.mark.parametrize("temperature,eps", [(0.0, 0.0), (0.2, 0.0), (0.2, 0.15)])
def test_labels_follow_the_biased_reward_with_the_set_temperature_and_flip_rate(temperature, eps):
    """P(a chosen) = (1 - eps) * sigmoid(d / T) + eps * (1 - sigmoid(d / T)), d the biased-reward gap."""
    n = 20000
    k_r, k_n, k_lab = jax.random.split(jax.random.key(3), 3)
    r = jax.random.uniform(k_r, (2, n), minval=-0.5, maxval=1.0)
    length = jax.random.randint(k_n, (2, n), 0, 10)
    rb = biased_reward(r, length, 0.15)
    lab = label_pairs(k_lab, rb[0], rb[1], temperature, eps)
    d = np.asarray(rb[0] - rb[1])
    p_bt = 1 / (1 + np.exp(-d / temperature)) if temperature > 0 else (d > 0).astype(float)
    p = (1 - eps) * p_bt + eps * (1 - p_bt)
    chosen = np.asarray(lab["a_chosen"])
    # Poisson-binomial: the count of a-chosen labels within 4 standard deviations of its mean
    assert abs(chosen.sum() - p.sum()) < 4 * np.sqrt(np.sum(p * (1 - p))) + 1
    # calibration where it matters: pairs whose gap makes the BT probability near 0.73
    if temperature > 0:
        band = (d > 0.18) & (d < 0.22)
        pb = p[band]
        assert abs(chosen[band].mean() - pb.mean()) < 4 * np.sqrt(np.sum(pb * (1 - pb))) / band.sum()
    flips = np.asarray(lab["flipped"])
    assert abs(flips.mean() - eps) < 4 * np.sqrt(max(eps * (1 - eps), 1e-12) / n) + 1e-9
    # the labeller follows the biased reward, not the true one: length sways it
    if eps == 0.0 and temperature == 0.0:
        assert np.all(chosen == (d > 0))


def test_length_biased_dataset_labels_follow_its_biased_reward():
    ds = load_dataset(TEXT / "length-biased")
    p, props = ds.pairs, ds.manifest["properties"]
    T, b = props["bt_temperature"], props["length_bias"]
    assert T > 0 and b > 0 and props["flip_eps"] == 0.0
    np.testing.assert_allclose(p["chosen_biased_reward"], p["chosen_reward"] + b * p["chosen_length"], atol=1e-5)
    gap = p["chosen_biased_reward"] - p["rejected_biased_reward"]
    np.testing.assert_allclose(p["p_chosen"], 1 / (1 + np.exp(-gap / T)), atol=1e-4)
    # Expected number of labels that agree with the biased reward (pairs with a nonzero gap), binomial interval
    d = np.abs(gap)[np.abs(gap) > 1e-6]
    q = 1 / (1 + np.exp(-d / T))
    agree = np.sum(gap[np.abs(gap) > 1e-6] > 0)
    assert abs(agree - q.sum()) < 4 * np.sqrt(np.sum(q * (1 - q))) + 1
    # verbosity bias: the chosen response is longer far more often than shorter
    assert np.mean(p["chosen_length"] > p["rejected_length"]) > 1.5 * np.mean(p["chosen_length"] < p["rejected_length"])


def test_bad_text_settings_name_the_field():
    with pytest.raises(ValueError, match="setting: unknown text setting 'verbose'; allowed values: clean, noisy"):
        make_config("verbose")
    with pytest.raises(ValueError, match=r"flip_eps: got 1.5; allowed values: in \[0, 1\]"):
        make_config("clean", flip_eps=1.5)
    with pytest.raises(ValueError, match=r"max_len: got 4; allowed values: > prompt_len"):
        make_config("clean", max_len=4)
    with pytest.raises(ValueError, match="config: unknown field"):
        make_config("clean", horizon=3)
    with pytest.raises(ValueError, match="d_model: 30 must be a multiple of n_heads=4"):
        tpol.TextPolicySpec(vocab=12, prompt_len=4, max_len=12, d_model=30, n_heads=4)
