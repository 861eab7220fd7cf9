"""Helpers shared by the tests (no test module imports another; fixtures live in conftest.py)."""
import math
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from search_spaces.batch import PrefBatch
from search_spaces.registry import get_loss

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "envs" / "data"  # shipped datasets and experts


def to_batch(arrays, dtype=jnp.float64) -> PrefBatch:
    pw, pl, rw, rl, mw, ml = arrays
    return PrefBatch(*(jnp.asarray(x, dtype) for x in (pw, pl, rw, rl, mw, ml)))


def random_arrays(seed: int, batch: int = 6, length: int = 8, pad_value: float = np.nan):
    """Token log-probs (pw, pl, rw, rl) and masks (mw, ml) with random lengths; padding holds pad_value."""
    rng = np.random.default_rng(seed)
    out = []
    masks = []
    for _ in range(2):
        n = rng.integers(1, length + 1, size=batch)
        masks.append((np.arange(length)[None, :] < n[:, None]).astype(np.float64))
    mw, ml = masks
    for m in (mw, ml, mw, ml):
        x = -rng.uniform(0.05, 2.5, size=(batch, length))
        out.append(np.where(m > 0, x, pad_value))
    return (*out, mw, ml)


def random_hparams(name, seed):
    """A random non-default hyperparameter setting inside each range."""
    rng = np.random.default_rng(seed)
    spec, out = get_loss(name), {}
    for key, (low, high, _) in spec.ranges.items():
        if key == "eps":
            out[key] = rng.uniform(max(low, 1e-3), min(high, 0.4))
        elif key == "alpha" and low < 0:
            out[key] = rng.uniform(-0.05, 0.05)
        elif key == "gamma":
            out[key] = rng.uniform(-1.0, 1.5)
        else:  # positive scales: log-uniform
            out[key] = math.exp(rng.uniform(math.log(0.02), math.log(2.0)))
    return spec.params(**out)
