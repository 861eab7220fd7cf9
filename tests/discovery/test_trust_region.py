"""The trust region around the start and the per-generation control (discovery/trust_region.py, search.py)."""
import jax
import numpy as np

from discovery.config import load_config
from discovery.engine import build_engine
from discovery.search import box_inverse, box_map, run_search
from discovery.trust_region import _direction, probe_batch, trust_scale
from envs import runtime
from search_spaces.search_space import params_to_unit
from tests.sharded_search import TINY

runtime.enable_compilation_cache()


def test_scaled_steps_change_the_gradient_direction_by_about_the_radius() -> None:
    engine = build_engine(load_config(None, TINY))
    space = engine.space
    x0 = params_to_unit(space, engine.init_point)
    sigma, radius = 0.1, 0.3
    scale = trust_scale(space, x0, engine.domains(), sigma, radius)
    assert scale.shape == (space.size,) and np.all((scale >= 0) & (scale <= 1))
    # DPO's overall scale only rescales the loss (no SFT term): Adam ignores it, so it is free to move
    assert scale[space.names().index("base.log_scale")] == 1.0
    field = _direction(space, probe_batch(engine.domains()[0], x0, space, jax.random.key(0)))
    g0 = field(x0)
    steps = np.asarray(jax.random.normal(jax.random.key(1), (8, space.size))) * sigma

    def change(step):
        return float(np.linalg.norm(field(jax.numpy.clip(x0 + step, 0.0, 1.0)) - g0))

    scaled = np.median([change(s * scale) for s in steps])
    plain = np.median([change(s) for s in steps])
    assert 0.3 * radius < scaled < 3 * radius, scaled
    assert plain > 2 * scaled, (plain, scaled)


def test_box_map_inverts_inside_the_box() -> None:
    x0, scale = np.array([0.5, 0.2], np.float32), np.array([0.1, 1.0], np.float32)
    y = np.array([0.9, 0.4], np.float32)
    x = box_map(x0, scale)(y)
    np.testing.assert_allclose(x, [0.54, 0.4], rtol=1e-6)
    np.testing.assert_allclose(box_inverse(x0, scale)(x), y, rtol=1e-6)
    np.testing.assert_array_equal(box_map(None, None)(np.array([1.5, -0.2])), [1.0, 0.0])
    frozen = np.array([0.0, 1.0], np.float32)  # scale 0: the coordinate stays at the start
    np.testing.assert_allclose(box_map(x0, frozen)(y), [0.5, 0.4], rtol=1e-6)
    np.testing.assert_allclose(box_inverse(x0, frozen)(box_map(x0, frozen)(y)), [0.5, 0.4], rtol=1e-6)


def test_the_control_is_the_start_on_the_generations_own_keys(tmp_path) -> None:
    # a vanishing step: every candidate is the start, so on the same keys it scores what the control scores
    cfg = load_config(None, TINY + ["generations=2", "strategy.sigma=1e-7", "strategy.trust_region=0.3"])
    result = run_search(cfg, tmp_path / "run", quiet=True, report=False)
    for line in result["log"]:
        assert line["control"] is not None
        np.testing.assert_allclose(line["mean"], line["control"], rtol=1e-3, atol=1e-3)
    assert len(result["trust_scale"]) == build_engine(cfg).space.size
