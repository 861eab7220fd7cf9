"""The symbolic proposer: deterministic given its generator, every proposal inside the grammar's limits and
admitted by the allow-list, seeds as trees, closed forms."""
from __future__ import annotations

import json

import numpy as np

from discovery.proposers import sandbox
from discovery.proposers.proposal import from_json, seed_proposals
from discovery.proposers.symbolic import (
    MAX_DEPTH,
    MAX_NODES,
    SymbolicProposer,
    closed_form,
    depth,
    dpo_tree,
    nodes,
    render,
)


def history():
    out = []
    for i, p in enumerate(seed_proposals()):
        out.append({**p.to_json(), "origin": "seed", "generation": 0, "index": i, "form": p.form, "fitness": 50.0 + i})
    return out


def test_deterministic_and_admitted():
    prop = SymbolicProposer()
    a = prop.propose(30, history(), np.random.default_rng([0, 1]))
    b = prop.propose(30, history(), np.random.default_rng([0, 1]))
    assert json.dumps(a) == json.dumps(b) and len(a) == 30
    forms = set()
    for r in a:
        assert len(nodes(r["tree"])) <= MAX_NODES and depth(r["tree"]) <= MAX_DEPTH
        p = from_json({k: r[k] for k in ("name", "thought", "code", "constants")})
        assert sandbox.check(p) is None, (p.code, sandbox.check(p))
        assert all(c.low <= c.value <= c.high for c in p.constants.values())
        forms.add(p.form)
    assert len(forms) >= 10  # mostly new forms; some constant jitter of known ones
    assert len({(r["code"], json.dumps(r["constants"])) for r in a}) == 30  # never a repeat


def test_render_and_closed_form():
    code = render(dpo_tree())
    assert code.startswith("def loss(policy_chosen_logps") and 'jax.nn.softplus((-((c["beta"] * rho))))' in code
    assert closed_form(dpo_tree(), {"beta": 0.1}) == "softplus(-((0.1)*(rho)))"
    # the DPO tree renders to code equal in form to the seed's function of rho (same statistics defined)
    assert "rho = d_w - d_l" in code and "d_w = policy_chosen_logps - reference_chosen_logps" in code
