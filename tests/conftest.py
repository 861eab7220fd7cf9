import os

import numpy as np
import pytest

# Tests share one persistent compilation cache so repeated runs skip XLA compiles.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".jax_cache"))


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


@pytest.fixture
def arrays():
    return random_arrays(0)
