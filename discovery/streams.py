"""The key streams of a config's seed, in one place so they never meet.

Generation g of a search uses fold_in(key(seed), g) (g < 2**31 - 8); every other use of the seed takes a
stream of its own, clear of every generation index: the ES initialization, and the validation and test
seeds. A search's final selection and the suite's tuning choose on VALIDATION; every reported number (the
search report, the suite table) comes from TEST, so no reported number was used to choose. (HELDOUT was the
search report's stream before the report moved to TEST; kept so no new stream ever reuses its number.)
"""
from __future__ import annotations

import jax

INIT_STREAM = 2**31 - 1
HELDOUT_STREAM = 2**31 - 2
VALIDATION_STREAM = 2**31 - 3
TEST_STREAM = 2**31 - 4


def stream_key(seed: int, stream: int) -> jax.Array:
    """The root key of one stream of `seed`."""
    return jax.random.fold_in(jax.random.key(seed), stream)
