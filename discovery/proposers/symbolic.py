"""The offline symbolic proposer: mutation and crossover of expression trees, so the loop runs without an LLM.

A tree is JSON: ["var", name] (a per-pair statistic), ["const", name] (a named constant with a range),
["num", value], or [op, child, ...] with op one of UNARY / BINARY. Every tree renders to proposal code in
the same format an LLM writes (the code is what the sandbox checks and the engine scores), and to a closed
form for the report. Operators (Koza-style genetic programming): point mutation of an operator, subtree
replacement, adding a term, hoisting a subtree, constant jitter (same form, new values: vmapped together),
and subtree crossover between two archive members chosen by tournament on fitness.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
from typing import Any, Sequence

import numpy as np

from discovery.proposers.proposal import ARGS, Constant, Proposal

# per-pair statistics available as leaves, and how each is computed from the signature's arguments
VARS = {
    "rho": "d_w - d_l",  # the DPO margin of implicit rewards (nats)
    "d_w": "policy_chosen_logps - reference_chosen_logps",
    "d_l": "policy_rejected_logps - reference_rejected_logps",
    "rho_bar": "d_w / chosen_lengths - d_l / rejected_lengths",  # per-token margin (IPO-TRL, LN-DPO)
    "len_diff": "chosen_lengths - rejected_lengths",
    "tau": "tau",
}
UNARY = {  # op -> (code template, closed-form template)
    "softplus": ("jax.nn.softplus({0})", "softplus({0})"),
    "log_sigmoid": ("jax.nn.log_sigmoid({0})", "log sigma({0})"),
    "sigmoid": ("jax.nn.sigmoid({0})", "sigma({0})"),
    "exp": ("jnp.exp(jnp.minimum({0}, 50.0))", "exp({0})"),
    "square": ("jnp.square({0})", "({0})^2"),
    "relu": ("jax.nn.relu({0})", "relu({0})"),
    "tanh": ("jnp.tanh({0})", "tanh({0})"),
    "neg": ("(-({0}))", "-({0})"),
}
BINARY = {
    "add": ("({0} + {1})", "{0} + {1}"),
    "sub": ("({0} - {1})", "{0} - {1}"),
    "mul": ("({0} * {1})", "({0})*({1})"),
    "max": ("jnp.maximum({0}, {1})", "max({0}, {1})"),
}
# constant kinds: a scale multiplies a statistic (beta-like), a weight mixes terms, an offset shifts
CONST_KINDS = {"beta": (0.1, 0.005, 2.0), "w": (0.5, 0.0, 2.0), "m": (0.0, -2.0, 2.0)}
MAX_NODES = 24
MAX_DEPTH = 7

Tree = list


def dpo_tree() -> Tree:
    return ["softplus", ["neg", ["mul", ["const", "beta"], ["var", "rho"]]]]


# The seed losses as trees (their records in seeds.jsonl carry the same constants)
SEED_TREES: dict[str, Tree] = {
    "dpo": dpo_tree(),
    "slic": ["relu", ["sub", ["num", 1.0], ["mul", ["const", "beta"], ["var", "rho"]]]],
    "ipo": ["square", ["sub", ["var", "rho"], ["mul", ["num", 0.5], ["recip", ["const", "beta"]]]]],
    "discopop": None,  # the gated blend is outside this grammar; its record joins the archive as code only
}
UNARY["recip"] = ("(1.0 / {0})", "1/({0})")  # used by the IPO seed only (its argument is a positive constant)


def shape(tree: Tree) -> str:
    """The tree with constant names erased: two trees of one shape are one form up to their constants."""
    def strip(t):
        if t[0] == "const":
            return ["const"]
        if t[0] in ("var", "num"):
            return t
        return [t[0], *(strip(c) for c in t[1:])]

    return json.dumps(strip(tree))


def is_seed_form(tree: Tree) -> bool:
    return shape(tree) in {shape(t) for t in SEED_TREES.values() if t is not None}


def nodes(tree: Tree, path: tuple = ()) -> list[tuple]:
    """Paths of every node (pre-order)."""
    out = [path]
    if tree[0] not in ("var", "const", "num"):
        for i, child in enumerate(tree[1:], 1):
            out += nodes(child, path + (i,))
    return out


def get(tree: Tree, path: tuple) -> Tree:
    for i in path:
        tree = tree[i]
    return tree


def put(tree: Tree, path: tuple, sub: Tree) -> Tree:
    if not path:
        return copy.deepcopy(sub)
    out = copy.deepcopy(tree)
    node = out
    for i in path[:-1]:
        node = node[i]
    node[path[-1]] = copy.deepcopy(sub)
    return out


def depth(tree: Tree) -> int:
    if tree[0] in ("var", "const", "num"):
        return 1
    return 1 + max(depth(c) for c in tree[1:])


def const_names(tree: Tree) -> list[str]:
    out: list[str] = []
    for p in nodes(tree):
        n = get(tree, p)
        if n[0] == "const" and n[1] not in out:
            out.append(n[1])
    return out


def uses_policy(tree: Tree) -> bool:
    return any(get(tree, p)[0] == "var" and get(tree, p)[1] != "tau" and get(tree, p)[1] != "len_diff"
               for p in nodes(tree))


def _expr(tree: Tree, closed: bool, values: dict[str, float] | None = None) -> str:
    head = tree[0]
    if head == "var":
        return tree[1]
    if head == "const":
        if closed and values is not None:
            return f"{values[tree[1]]:.4g}"
        return tree[1] if closed else f'c["{tree[1]}"]'
    if head == "num":
        return f"{float(tree[1]):g}" if closed else repr(float(tree[1]))
    table = UNARY if head in UNARY else BINARY
    template = table[head][1 if closed else 0]
    return template.format(*(_expr(c, closed, values) for c in tree[1:]))


def render(tree: Tree) -> str:
    """Proposal code for a tree (the fixed signature; statistics defined first, only those used)."""
    used = {get(tree, p)[1] for p in nodes(tree) if get(tree, p)[0] == "var"}
    need = set(used)
    if need & {"rho", "rho_bar"}:
        need |= {"d_w", "d_l"}
    lines = [f"def loss({', '.join(ARGS)}):"]
    for v in ("d_w", "d_l", "rho", "rho_bar", "len_diff"):
        if v in need:
            lines.append(f"    {v} = {VARS[v]}")
    lines.append(f"    return {_expr(tree, False)} + 0.0 * policy_chosen_logps")
    return "\n".join(lines) + "\n"


def closed_form(tree: Tree, values: dict[str, float] | None = None) -> str:
    """The tree as a formula (constants substituted when `values` is given), rho = Delta_w - Delta_l."""
    return _expr(tree, True, values)


class SymbolicProposer:
    """Proposals by genetic programming over the archive's trees (records with a "tree")."""

    name = "symbolic"

    def __init__(self, tournament: int = 3, p_crossover: float = 0.3, p_jitter: float = 0.25) -> None:
        self.tournament, self.p_crossover, self.p_jitter = tournament, p_crossover, p_jitter

    # --- the pool -----------------------------------------------------------------------------
    @staticmethod
    def pool(history: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Scored archive members with a tree (seed records get their SEED_TREES tree)."""
        out = []
        for r in history:
            tree = r.get("tree") or (SEED_TREES.get(r["name"]) if r.get("origin") == "seed" else None)
            if tree is not None and r.get("fitness") is not None and math.isfinite(r["fitness"]):
                out.append({**r, "tree": tree})
        return out

    def _pick(self, pool: list[dict], rng: np.random.Generator) -> dict:
        idx = rng.choice(len(pool), size=min(self.tournament, len(pool)), replace=False)
        return max((pool[i] for i in idx), key=lambda r: r["fitness"])

    # --- random material ----------------------------------------------------------------------
    def _leaf(self, rng: np.random.Generator, tree_consts: list[str]) -> Tree:
        u = rng.random()
        if u < 0.45:
            return ["mul", ["const", self._new_const("beta", tree_consts)], ["var", str(rng.choice(
                ["rho", "rho", "rho", "d_w", "d_l", "rho_bar"]))]]
        if u < 0.6:
            return ["var", str(rng.choice(["rho", "d_w", "d_l", "tau"]))]
        if u < 0.8:
            return ["const", self._new_const(str(rng.choice(["w", "m"])), tree_consts)]
        return ["num", float(rng.choice([0.5, 1.0, 2.0]))]

    @staticmethod
    def _new_const(kind: str, taken: list[str]) -> str:
        i = 0
        while f"{kind}{i if i else ''}" in taken:
            i += 1
        name = f"{kind}{i if i else ''}"
        taken.append(name)
        return name

    def _random_tree(self, rng: np.random.Generator, consts: list[str], size: int = 2) -> Tree:
        if size <= 0 or rng.random() < 0.3:
            return self._leaf(rng, consts)
        if rng.random() < 0.55:
            op = str(rng.choice([k for k in UNARY if k != "recip"]))
            return [op, self._random_tree(rng, consts, size - 1)]
        op = str(rng.choice(list(BINARY)))
        return [op, self._random_tree(rng, consts, size - 1), self._random_tree(rng, consts, size - 1)]

    # --- operators ----------------------------------------------------------------------------
    def _mutate(self, tree: Tree, rng: np.random.Generator) -> tuple[Tree, str]:
        paths = nodes(tree)
        path = paths[int(rng.integers(len(paths)))]
        node = get(tree, path)
        consts = const_names(tree)
        kind = rng.choice(["point", "subtree", "add_term", "wrap", "hoist"], p=[0.3, 0.25, 0.2, 0.15, 0.1])
        if kind == "point" and node[0] in UNARY and node[0] != "recip":
            op = str(rng.choice([k for k in UNARY if k not in (node[0], "recip")]))
            return put(tree, path, [op, node[1]]), f"{node[0]} -> {op}"
        if kind == "point" and node[0] in BINARY:
            op = str(rng.choice([k for k in BINARY if k != node[0]]))
            return put(tree, path, [op, node[1], node[2]]), f"{node[0]} -> {op}"
        if kind == "add_term":
            term = ["mul", ["const", self._new_const("w", consts)], self._random_tree(rng, consts, 1)]
            return ["add", tree, term], "added a weighted term"
        if kind == "wrap":
            op = str(rng.choice([k for k in UNARY if k not in ("recip", "neg")]))
            return put(tree, path, [op, node]), f"wrapped a subtree in {op}"
        if kind == "hoist" and len(path) > 0 and node[0] not in ("var", "const", "num"):
            child = node[1 + int(rng.integers(len(node) - 1))]
            return put(tree, path, child), "hoisted a subtree"
        return put(tree, path, self._random_tree(rng, consts, 2)), "replaced a subtree"

    def _crossover(self, a: Tree, b: Tree, rng: np.random.Generator) -> Tree:
        pa = nodes(a)[int(rng.integers(len(nodes(a))))]
        pb = nodes(b)[int(rng.integers(len(nodes(b))))]
        return put(a, pa, get(b, pb))

    @staticmethod
    def _constants(tree: Tree, parents: Sequence[dict]) -> dict[str, Constant]:
        out = {}
        for name in const_names(tree):
            for p in parents:
                if name in p["constants"]:
                    c = p["constants"][name]
                    out[name] = Constant(c["value"], c["low"], c["high"])
                    break
            else:
                kind = name.rstrip("0123456789")
                v, lo, hi = CONST_KINDS.get(kind, CONST_KINDS["w"])
                out[name] = Constant(v, lo, hi)
        return out

    @staticmethod
    def _jitter(consts: dict[str, Constant], rng: np.random.Generator) -> dict[str, float]:
        out = {}
        for k, c in consts.items():
            if c.low > 0:  # positive: multiplicative
                out[k] = float(np.clip(c.value * math.exp(rng.normal(0, 0.5)), c.low, c.high))
            else:
                out[k] = float(np.clip(c.value + rng.normal(0, 0.25 * (c.high - c.low)), c.low, c.high))
        return out

    # --- the interface ------------------------------------------------------------------------
    def propose(self, n: int, history: Sequence[dict[str, Any]], rng: np.random.Generator) -> list[dict[str, Any]]:
        """`n` proposals as JSON records with "tree" (valid under the grammar's size limits; new forms or
        new constants of a known form; never an exact repeat of the archive)."""
        pool = self.pool(history)
        if not pool:
            pool = [{"name": "dpo", "tree": dpo_tree(), "fitness": 0.0,
                     "constants": {"beta": {"value": 0.1, "low": 0.005, "high": 2.0}}}]
        seen = {(r.get("form"), json.dumps(r.get("constants"), sort_keys=True)) for r in history}
        out: list[dict[str, Any]] = []
        tries = 0
        while len(out) < n and tries < 50 * n:
            tries += 1
            parent = self._pick(pool, rng)
            u = rng.random()
            if u < self.p_jitter and parent["constants"] and not is_seed_form(parent["tree"]):
                tree, parents = parent["tree"], [parent]
                consts = self._constants(tree, parents)
                p = Proposal(f"{parent['name']}'", f"constants of {parent['name']} jittered", render(tree), consts)
                p = p.with_values(self._jitter(consts, rng))
            else:
                if u < self.p_jitter + self.p_crossover and len(pool) > 1:
                    other = self._pick(pool, rng)
                    tree, what = self._crossover(parent["tree"], other["tree"], rng), f"crossover with {other['name']}"
                    parents = [parent, other]
                else:
                    tree, what = self._mutate(parent["tree"], rng)
                    parents = [parent]
                if (len(nodes(tree)) > MAX_NODES or depth(tree) > MAX_DEPTH or not uses_policy(tree)
                        or is_seed_form(tree)):
                    continue  # too big, cannot train, or a seed loss again (the report tunes those as baselines)
                consts = self._constants(tree, parents)
                name = "sym-" + hashlib.sha256(json.dumps(tree).encode()).hexdigest()[:6]
                p = Proposal(name, f"{what} (parent {parent['name']})", render(tree), consts)
            rec = {**p.to_json(), "tree": tree, "parents": [q["name"] for q in parents]}
            key = (p.form, json.dumps(rec["constants"], sort_keys=True))
            if key in seen:
                continue
            seen.add(key)
            out.append(rec)
        return out
