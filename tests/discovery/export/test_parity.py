"""The exported PyTorch loss equals the JAX Mirror Preference Optimization family (search_spaces.mpo.mpo_loss)
in values and in gradients with respect to all four log-prob inputs: every zoo loss that is a point of the
family, and 20 random search vectors (temporal slopes included) read from run directories, at tau 0, 0.5, 1."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from discovery.export.source import from_loss, from_run  # noqa: E402
from discovery.export.torch_source import render  # noqa: E402
from search_spaces.batch import PrefBatch  # noqa: E402
from search_spaces.mpo import FIELDS, mpo_loss  # noqa: E402
from search_spaces.points import point_names  # noqa: E402
from tests.discovery.export.helpers import import_file, random_vector, write_run  # noqa: E402
from tests.helpers import random_arrays, random_hparams  # noqa: E402

TAUS = (0.0, 0.5, 1.0)
TOL = dict(rtol=1e-6, atol=1e-6)


def _arrays(seed: int):
    """Token log-probs with lengths 1..48, so sequence scores cross every piecewise-linear knot (to -64)
    and per-token means reach log1mexp's near branch (u > -log 2)."""
    pw, pl, rw, rl, mw, ml = random_arrays(seed, batch=24, length=48)
    rng = np.random.default_rng(seed + 1)
    scale = rng.uniform(0.01, 1.5, size=(24, 1))  # some responses nearly certain, some not
    return (pw * scale, pl * scale, rw * scale, rl * scale, mw, ml)


@jax.jit
def _jax_value_and_grads(params, pw, pl, rw, rl, mw, ml, tau):
    def total(pw, pl, rw, rl):
        losses = mpo_loss(params, PrefBatch(pw, pl, rw, rl, mw, ml), tau)
        return losses.sum(), losses

    (_, losses), grads = jax.value_and_grad(total, argnums=(0, 1, 2, 3), has_aux=True)(pw, pl, rw, rl)
    return losses, grads


def _jax(params, arrays, tau):
    with jax.enable_x64(True):
        xs = [jnp.asarray(x, jnp.float64) for x in arrays]
        losses, grads = _jax_value_and_grads(params, *xs, jnp.asarray(tau, jnp.float64))
        losses, grads = np.asarray(losses), [np.asarray(g) for g in grads]
    masks = (arrays[4], arrays[5], arrays[4], arrays[5])
    per_pair = []
    for g, m in zip(grads, masks):
        # the loss sees a response's tokens only through their sum: every token carries the same gradient
        first = g[:, :1]
        np.testing.assert_allclose(np.where(m > 0, g, first), np.broadcast_to(first, g.shape), rtol=1e-12, atol=0)
        per_pair.append(first[:, 0])
    return losses, per_pair


def _torch(module, arrays, tau, dtype=torch.float64):
    pw, pl, rw, rl, mw, ml = arrays
    sums = [torch.tensor(np.where(m > 0, x, 0.0).sum(-1), dtype=dtype, requires_grad=True)
            for x, m in ((pw, mw), (pl, ml), (rw, mw), (rl, ml))]
    lengths = [torch.tensor(m.sum(-1), dtype=torch.long) for m in (mw, ml)]
    losses = module.loss(*sums, *lengths, tau=tau)
    assert losses.dtype == dtype and losses.shape == (pw.shape[0],)
    losses.sum().backward()
    return losses.detach().numpy(), [s.grad.numpy() for s in sums]


def _check(module, params, seed):
    arrays = _arrays(seed)
    for tau in TAUS:
        want, want_grads = _jax(params, arrays, tau)
        got, got_grads = _torch(module, arrays, tau)
        assert np.all(np.isfinite(want)), "the JAX reference itself is not finite here"
        np.testing.assert_allclose(got, want, **TOL, err_msg=f"values at tau={tau}")
        for name, g, w in zip(("policy_chosen", "policy_rejected", "ref_chosen", "ref_rejected"), got_grads, want_grads):
            np.testing.assert_allclose(g, w, **TOL, err_msg=f"d loss / d {name}_logps at tau={tau}")


def _export(tmp_path, source, name):
    path = tmp_path / f"{name}.py"
    path.write_text(render(source))
    return import_file(path, name)


ZOO_CASES = [(name, which) for name in point_names() for which in ("defaults", "random")]


@pytest.mark.parametrize("name,which", ZOO_CASES)
def test_zoo_points_match_the_jax_family(tmp_path, name, which):
    hp = {} if which == "defaults" else random_hparams(name, seed=len(name))
    text = name + (":" + ",".join(f"{k}={v!r}" for k, v in hp.items()) if hp else "")
    source = from_loss(text)
    module = _export(tmp_path, source, f"exported_{name}_{which}")
    with jax.enable_x64(True):
        params = source.params()
    _check(module, params, seed=len(name))


# 20 random search vectors: 10 in the default search space (53 coordinates, slopes on w_sft, beta, link_w),
# 10 with a temporal slope on every coefficient, each around a different start point.
VECTOR_CASES = [(i, "default" if i < 10 else "all_temporal", init)
                for i, init in enumerate(["sigmoid", "ipo", "simpo", "orpo", "discopop"] * 4)]


@pytest.mark.parametrize("i,space_kind,init", VECTOR_CASES)
def test_random_search_vectors_match_the_jax_family(tmp_path, i, space_kind, init):
    temporal = None if space_kind == "default" else list(FIELDS)
    _, space = write_run(tmp_path / "probe", temporal=temporal, init=init)
    vec = random_vector(space, np.random.default_rng(100 + i))
    run, _ = write_run(tmp_path / "run", vector=vec, temporal=temporal, init=init)
    module = _export(tmp_path, from_run(run), f"exported_vector_{i}")
    with jax.enable_x64(True):
        params = space.from_vector(jnp.asarray(vec, jnp.float64))
        assert any(np.any(np.asarray(v) != 0) for v in params.slope)  # temporal
    _check(module, params, seed=i)


def test_float32_matches_the_jax_family_in_float32(tmp_path):
    _, space = write_run(tmp_path / "probe", temporal=list(FIELDS))
    for i in range(3):
        vec = space.to_vector(space.fixed) + 0.1 * (random_vector(space, np.random.default_rng(i))
                                                    - np.asarray(space.to_vector(space.fixed)))
        run, _ = write_run(tmp_path / f"run{i}", vector=np.asarray(vec), temporal=list(FIELDS))
        module = _export(tmp_path, from_run(run), f"exported_f32_{i}")
        params = space.from_vector(jnp.asarray(vec, jnp.float32))
        arrays = _arrays(i)
        for tau in TAUS:
            want = np.asarray(_jax_value_and_grads(params, *(jnp.asarray(x, jnp.float32) for x in arrays),
                                                   jnp.float32(tau))[0])
            got, grads = _torch(module, arrays, tau, dtype=torch.float32)
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
            assert all(np.all(np.isfinite(g)) for g in grads)
