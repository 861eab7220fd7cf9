"""The seed archive: DPO, SLiC, IPO and DiscoPOP written in the proposal format equal their zoo losses, in
values and gradients. (The seeds are this repository's own code; the test compiles them with the worker's
loader, in the allow-listed namespace.)"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from discovery.proposers.proposal import SEED_ZOO, seed_proposals
from discovery.proposers.sandbox import check
from discovery.proposers.worker import compile_loss
from search_spaces.batch import PrefBatch, seq_len, seq_logp
from search_spaces.registry import get_loss
from tests.helpers import random_arrays


def test_seed_archive_names():
    assert [p.name for p in seed_proposals()] == ["dpo", "slic", "ipo", "discopop"]
    assert set(SEED_ZOO) == {p.name for p in seed_proposals()}


@pytest.mark.parametrize("seed", seed_proposals(), ids=lambda p: p.name)
def test_seed_equals_zoo_loss(seed):
    assert check(seed) is None
    fn = compile_loss(seed.code, sorted(seed.constants))
    zoo_name, mapping = SEED_ZOO[seed.name]
    spec = get_loss(zoo_name)
    for trial in range(3):
        a = random_arrays(trial, batch=12, length=9, pad_value=0.0)
        batch = PrefBatch(*(jnp.asarray(x, jnp.float32) for x in a))
        # large margins (tens of nats) too
        if trial == 2:
            batch = batch._replace(policy_w=batch.policy_w + 5.0 * batch.mask_w, policy_l=batch.policy_l - 5.0 * batch.mask_l)
        values = {k: c.value * (1.7 if trial == 1 else 1.0) for k, c in seed.constants.items()}
        zoo_params = spec.params(**{mapping[k]: v for k, v in values.items()})
        c = {k: jnp.float32(v) for k, v in values.items()}

        def mine(pw, pl, c=c, batch=batch):
            return fn(seq_logp(pw, batch.mask_w), seq_logp(pl, batch.mask_l), seq_logp(batch.ref_w, batch.mask_w),
                      seq_logp(batch.ref_l, batch.mask_l), seq_len(batch.mask_w), seq_len(batch.mask_l), 0.3, c)

        def zoo(pw, pl, batch=batch, zoo_params=zoo_params):
            return spec.fn(zoo_params, batch._replace(policy_w=pw, policy_l=pl), 0.3)

        np.testing.assert_allclose(mine(batch.policy_w, batch.policy_l), zoo(batch.policy_w, batch.policy_l), rtol=2e-5, atol=1e-5)
        g_mine = jax.grad(lambda pw, pl: mine(pw, pl).mean(), argnums=(0, 1))(batch.policy_w, batch.policy_l)
        g_zoo = jax.grad(lambda pw, pl: zoo(pw, pl).mean(), argnums=(0, 1))(batch.policy_w, batch.policy_l)
        for x, y in zip(g_mine, g_zoo):
            np.testing.assert_allclose(x, y, rtol=2e-5, atol=1e-6)
