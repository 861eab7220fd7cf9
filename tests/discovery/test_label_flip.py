"""InnerConfig.label_flip: every inner run trains on its own flip realization of the dataset's labels.

A flipped run must be exactly the run on the dataset with those pairs' chosen and rejected swapped (the
flip is applied to the log-probs, world-agnostically), its realization must come from its own key at the
set rate, and a rate outside [0, 0.5) is one clear error. Train stage only: no physics, cheap.
"""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from discovery.inner import InnerConfig, flip_mask, make_inner_stages
from envs import runtime
from envs.dataset_io import load_dataset
from envs.mujoco.domain import EvalConfig, make_mujoco_domain
from search_spaces.registry import get_loss
from tests.helpers import DATA

runtime.enable_compilation_cache()


def test_a_flipped_run_is_the_run_on_the_swapped_dataset() -> None:
    dom = make_mujoco_domain(load_dataset(DATA / "hopper" / "clean-h25"), EvalConfig(episodes=1, episode_length=4))
    n = jax.tree.leaves(dom.train_pairs)[0].shape[0]
    key = jax.random.key(3)
    flip = np.asarray(flip_mask(key, n, 0.3))
    # chosen and rejected sit on axis 1 of every MuJoCo pair array except the prompt
    swapped = {k: (v if k == "prompt_obs" else jnp.where(flip.reshape((-1,) + (1,) * (v.ndim - 1)), v[:, ::-1], v))
               for k, v in dom.train_pairs.items()}
    dpo = get_loss("sigmoid")
    cfg = InnerConfig(steps=4, batch_size=64, learning_rate=3e-3)
    flipped = make_inner_stages(dom, dpo.fn, dataclasses.replace(cfg, label_flip=0.3)).train
    on_swapped = make_inner_stages(dom._replace(train_pairs=swapped), dpo.fn, cfg).train
    plain = make_inner_stages(dom, dpo.fn, cfg).train
    (p_f, l_f), (p_s, l_s), (_, l_p) = (jax.jit(f)(dpo.params(), key) for f in (flipped, on_swapped, plain))
    np.testing.assert_allclose(np.asarray(l_f), np.asarray(l_s), rtol=1e-5, atol=1e-6)
    for a, b in zip(jax.tree.leaves(p_f), jax.tree.leaves(p_s)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-3, atol=1e-4)  # float rounding of 4 Adam steps
    assert not np.allclose(np.asarray(l_f), np.asarray(l_p))  # the flips changed what was trained on


def test_each_run_draws_its_own_realization_at_the_set_rate() -> None:
    masks = np.stack([np.asarray(flip_mask(k, 4000, 0.3)) for k in jax.random.split(jax.random.key(0), 4)])
    assert np.all(np.abs(masks.mean(1) - 0.3) < 0.03), masks.mean(1)  # 3 s.e. of 4000 draws is 0.022
    assert len({m.tobytes() for m in masks}) == 4


@pytest.mark.parametrize("eps", [-0.1, 0.5, 1.0])
def test_a_flip_rate_outside_the_range_is_one_clear_error(eps: float) -> None:
    with pytest.raises(ValueError, match=rf"inner.label_flip: got {eps}; allowed: in \[0, 0.5\)"):
        InnerConfig(label_flip=eps)
