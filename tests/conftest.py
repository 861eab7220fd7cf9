import os

# Tests share one persistent compilation cache so repeated runs skip XLA compiles; set before jax is imported.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".jax_cache"))

import pytest  # noqa: E402

from tests.helpers import random_arrays  # noqa: E402


@pytest.fixture
def arrays():
    return random_arrays(0)
