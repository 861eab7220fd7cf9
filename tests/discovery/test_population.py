"""The population engine on a toy domain (no physics): every layout gives each candidate's own inner run."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from discovery.inner import InnerConfig, make_inner, make_inner_stages
from discovery.population import make_population_eval
from envs.domain import Domain
from search_spaces.mpo import mpo_loss
from search_spaces.points import mpo_point
from search_spaces.search_space import SearchSpace, unit_to_params

T, D = 5, 3  # tokens per response, features


def toy_domain() -> Domain:
    """A linear token scorer: log p(token) = log_sigmoid(w . x_token); the score rewards a large w[0]."""
    rng = np.random.default_rng(0)

    def side(n):
        return {"x_w": jnp.asarray(rng.normal(size=(n, T, D)), jnp.float32),
                "x_l": jnp.asarray(rng.normal(size=(n, T, D)), jnp.float32),
                "m_w": jnp.asarray(rng.random((n, T)) < 0.8), "m_l": jnp.asarray(rng.random((n, T)) < 0.8)}

    def logps(w, pairs):
        lw = jax.nn.log_sigmoid(pairs["x_w"] @ w) * pairs["m_w"]
        ll = jax.nn.log_sigmoid(pairs["x_l"] @ w) * pairs["m_l"]
        return lw, ll, pairs["m_w"].astype(jnp.float32), pairs["m_l"].astype(jnp.float32)

    def evaluate(w, key):
        noise = jax.random.normal(key, ())
        return {"score": 10 * w[0] + noise, "return": w[0], "length": jnp.float32(T)}

    return Domain(jnp.zeros((D,), jnp.float32), side(24), side(8), logps, evaluate, lambda w: jnp.sum(w**2))


@pytest.fixture(scope="module")
def setup():
    space = SearchSpace(fixed=mpo_point("sigmoid"))
    dom = toy_domain()
    cfg = InnerConfig(steps=6, batch_size=4, learning_rate=0.05)
    xs = jax.random.uniform(jax.random.key(1), (6, space.size), minval=0.3, maxval=0.7)
    return space, dom, cfg, xs, jax.jit(make_inner(dom, mpo_loss, cfg))


@pytest.mark.parametrize("chunk, eval_chunk", [(0, 0), (4, 1)])
def test_population_equals_each_candidates_inner_run(setup, chunk, eval_chunk):
    space, dom, cfg, xs, run = setup
    key = jax.random.key(7)
    pop = jax.jit(make_population_eval([make_inner_stages(dom, mpo_loss, cfg)] * 2, space, 3, chunk, eval_chunk))
    metrics = pop(xs, key)
    assert metrics["fitness"].shape == (6, 2, 3)
    to_params = unit_to_params(space)
    for i in (0, 5):
        for s, k in enumerate(jax.random.split(key, 3)):
            single = run(to_params(xs[i]), k)
            for name in ("fitness", "kl", "loss_last", "heldout_accuracy"):
                np.testing.assert_allclose(metrics[name][i, 1, s], single[name], rtol=1e-5, atol=1e-6, err_msg=name)
    # common random numbers: two datasets of the same domain give the same numbers
    np.testing.assert_array_equal(metrics["fitness"][:, 0], metrics["fitness"][:, 1])
