"""The subprocess that executes proposal code: `python -m discovery.proposers.worker`.

Proposal code is untrusted. It is executed here only, never in the engine's process: this process is
started by `discovery.proposers.sandbox.Worker` with a memory limit (RLIMIT_AS), a file-size limit, a
minimal environment (no API keys) and a scratch working directory inside the run directory, and killed when
a request runs past its time limit. It reads one JSON request per line on stdin and answers one JSON line on
its protocol channel (the original stdout; anything the code or a library prints goes to stderr). The code
is re-checked against the allow-list and executed in `allowlist.namespace()`.

Requests:
- {"op": "validate", "code", "constants": {name: [value, low, high]}} -> {"ok": true} or {"ok": false,
  "error": one line}: output shape [B], finite values and gradients on random batches and at margins of
  +-50 nats, tau in {0, 0.5, 1}, jit and vmap over the constants.
- {"op": "init", "config": engine config} builds the engine (datasets, inner runs) once.
- {"op": "score", "code", "names", "values" [[...] per candidate], "lr" [per candidate], "keys": {"seed",
  "stream", "index", "n"}} -> per candidate and dataset and seed: fitness, return, kl, length, nan.
  Candidates of one request share the form (the code) and are vmapped over their constants; every inner
  seed is shared by all candidates (common random numbers); the evaluation stage (MJX) is compiled once per
  process for a fixed width and serves every request.
"""
from __future__ import annotations

import json
import os
import sys
import time
import traceback
from typing import Any, Callable

B = 16  # pairs per validation batch
FINISH_WIDTH = 16  # fine-tuned policies evaluated per call of the one compiled evaluation program
METRICS = ("fitness", "return", "kl", "length", "heldout_accuracy", "nan")


def compile_loss(code: str, names: list[str]) -> Callable:
    from discovery.proposers.allowlist import check_code, namespace
    from discovery.proposers.proposal import FUNCTION

    check_code(code, names)  # again, on this side: the worker trusts nothing it is sent
    ns = namespace()
    exec(compile(code, "<proposal>", "exec"), ns)  # noqa: S102 - the sandboxed execution this process exists for
    return ns[FUNCTION]


def _short(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text[:300]}"


def _batches(np):
    """(label, args) cases: random pairs, margins of +50 and -50 nats, and long/short responses."""
    rng = np.random.default_rng(0)
    n_w = rng.integers(1, 60, B).astype(np.float32)
    n_l = rng.integers(1, 60, B).astype(np.float32)
    r_w = -rng.uniform(0.5, 3.0, B).astype(np.float32) * n_w
    r_l = -rng.uniform(0.5, 3.0, B).astype(np.float32) * n_l
    cases = []
    d = rng.normal(0.0, 3.0, (2, B)).astype(np.float32)
    cases.append(("random pairs", (r_w + d[0], r_l + d[1], r_w, r_l, n_w, n_l)))
    for m in (50.0, -50.0):
        cases.append((f"margins of {m:+.0f} nats", (r_w + m / 2, r_l - m / 2, r_w, r_l, n_w, n_l)))
    ones = np.ones(B, np.float32)
    cases.append(("one-token responses", (-ones * 2 + d[0] / 3, -ones * 2 + d[1] / 3, -ones * 2, -ones * 2, ones, ones)))
    return cases


def validate(code: str, constants: dict[str, list[float]]) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp
    import numpy as np

    names = sorted(constants)
    try:
        fn = compile_loss(code, names)
    except Exception as e:  # noqa: BLE001 - every failure is one message for the proposer
        return {"ok": False, "stage": "parse", "error": f"the code does not run: {_short(e)}"}
    c0 = {k: jnp.float32(constants[k][0]) for k in names}

    def mean_loss(a_w, a_l, rest, tau, c):
        return fn(a_w, a_l, *rest, tau, c).mean()

    run = jax.jit(lambda args, tau, c: fn(*args, tau, c))
    grad = jax.jit(jax.grad(lambda a_w, a_l, rest, tau, c: mean_loss(a_w, a_l, rest, tau, c), argnums=(0, 1)))
    any_grad = False
    for label, args in _batches(np):
        args = tuple(jnp.asarray(a) for a in args)
        for tau in (0.0, 0.5, 1.0):
            where = f"on {label} at tau = {tau}"
            try:
                out = np.asarray(run(args, jnp.float32(tau), c0))
            except Exception as e:  # noqa: BLE001
                return {"ok": False, "stage": "validate", "error": f"calling loss (jit) failed {where}: {_short(e)}"}
            shape = tuple(np.shape(out))
            if shape != (B,):
                return {"ok": False, "stage": "validate",
                        "error": f"output shape {shape} {where}; expected ({B},): one loss per pair (per-pair losses [B])"}
            bad = int(np.sum(~np.isfinite(np.asarray(out))))
            if bad:
                return {"ok": False, "stage": "validate", "error": f"loss is NaN/inf for {bad} of {B} pairs {where}"}
            try:
                g_w, g_l = jax.device_get(grad(args[0], args[1], args[2:], jnp.float32(tau), c0))
            except Exception as e:  # noqa: BLE001
                return {"ok": False, "stage": "validate", "error": f"jax.grad failed {where}: {_short(e)}"}
            g = np.concatenate([np.asarray(g_w), np.asarray(g_l)])
            bad = int(np.sum(~np.isfinite(g)))
            if bad:
                return {"ok": False, "stage": "validate",
                        "error": f"gradient w.r.t. the policy log-probs is NaN/inf for {bad} of {2 * B} entries {where}"}
            any_grad = any_grad or bool(np.any(g != 0))
    if not any_grad:
        return {"ok": False, "stage": "validate",
                "error": "the loss does not depend on the policy log-probs (zero gradient everywhere): it cannot train"}
    if not names:
        return {"ok": True}
    # vmap over constants: the value and two random points of each range
    rng = np.random.default_rng(1)
    stack = {k: jnp.asarray([constants[k][0], *rng.uniform(constants[k][1], constants[k][2], 2)], jnp.float32)
             for k in names}
    args = tuple(jnp.asarray(a) for a in _batches(np)[0][1])
    try:
        out = np.asarray(jax.jit(jax.vmap(lambda c: fn(*args, jnp.float32(0.5), c)))(stack))
    except Exception as e:  # noqa: BLE001
        return {"ok": False, "stage": "validate", "error": f"vmap over the constants failed: {_short(e)}"}
    if tuple(np.shape(out)) != (3, B):
        return {"ok": False, "stage": "validate",
                "error": f"vmap over the constants gave shape {tuple(np.shape(out))}; expected (3, {B})"}
    return {"ok": True}


class Scorer:
    """The engine's inner runs for proposals: one train program per (form, width, seeds), one evaluation."""

    def __init__(self, config: dict[str, Any]) -> None:
        from discovery.config import make_config
        from discovery.engine import build_engine
        from envs.runtime import enable_compilation_cache

        enable_compilation_cache(os.environ.get("JAX_COMPILATION_CACHE_DIR"))
        self.engine = build_engine(make_config(config))
        self.forms: dict[tuple, Callable] = {}
        self.finish = None

    def _loss_fn(self, fn: Callable) -> Callable:
        from search_spaces.batch import seq_len, seq_logp

        def loss_fn(c, batch, tau):
            return fn(seq_logp(batch.policy_w, batch.mask_w), seq_logp(batch.policy_l, batch.mask_l),
                      seq_logp(batch.ref_w, batch.mask_w), seq_logp(batch.ref_l, batch.mask_l),
                      seq_len(batch.mask_w), seq_len(batch.mask_l), tau, c)

        return loss_fn

    def _finish(self):
        import jax

        if self.finish is None:
            stages = self.engine.stages()  # the evaluation stage does not depend on the loss
            self.finish = [jax.jit(jax.vmap(st.finish)) for st in stages]
        return self.finish

    @staticmethod
    def _keys(k: dict[str, Any]):
        """(train keys [S], evaluation keys [S]) as make_inner's run splits each seed's key."""
        import jax

        from discovery.streams import stream_key

        root = (jax.random.fold_in(jax.random.key(k["seed"]), k["index"]) if k["stream"] == "generation"
                else stream_key(k["seed"], k["index"]))
        split = jax.vmap(jax.random.split)(jax.random.split(root, k["n"]))
        return split[:, 0], split[:, 1]

    def _evaluate(self, d: int, params, losses, k_eval, n_cand: int) -> dict[str, Any]:
        """Metrics [n_cand, n_seeds] of fine-tuned policies given cand-major [n_cand * n_seeds, ...], in
        FINISH_WIDTH rows per call of the one compiled evaluation (the last call padded)."""
        import jax
        import numpy as np

        n_seeds = k_eval.shape[0]
        rows = n_cand * n_seeds
        pad = (-rows) % FINISH_WIDTH
        idx = np.concatenate([np.arange(rows), np.zeros(pad, np.int64)])
        params, losses = jax.tree.map(lambda a: a[idx], (params, losses))
        ek = k_eval[np.tile(np.arange(n_seeds), n_cand)[idx]]
        finish = self._finish()[d]
        got = []
        for s in range(0, rows + pad, FINISH_WIDTH):
            part = jax.tree.map(lambda a, s=s: a[s:s + FINISH_WIDTH], (params, losses, ek))
            got.append(jax.device_get(finish(*part)))
        return {m: np.concatenate([np.asarray(g[m], np.float32) for g in got])[:rows].reshape(n_cand, n_seeds)
                for m in METRICS}

    def score(self, req: dict[str, Any]) -> dict[str, Any]:
        import jax
        import jax.numpy as jnp
        import numpy as np

        names, values = list(req["names"]), np.asarray(req["values"], np.float32).reshape(len(req["values"]), -1)
        lrs = jnp.asarray(req["lr"], jnp.float32)
        k_train, k_eval = self._keys(req["keys"])
        n_cand, n_seeds = values.shape[0], k_train.shape[0]
        form_key = (req["code"], tuple(names), n_cand, n_seeds)
        t0 = time.perf_counter()
        if form_key not in self.forms:
            fn = compile_loss(req["code"], names)
            stages = self.engine.stages(self._loss_fn(fn))

            def train_all(c, lr, kt, stages=stages):
                return [jax.lax.map(lambda key, st=st: jax.vmap(lambda ci, li: st.train(ci, key, li))(c, lr), kt)
                        for st in stages]

            self.forms[form_key] = jax.jit(train_all)
        c = {n: jnp.asarray(values[:, i]) for i, n in enumerate(names)}
        trained = jax.block_until_ready(self.forms[form_key](c, lrs, k_train))
        t_train = time.perf_counter() - t0
        per_ds = []
        for d, (params, losses) in enumerate(trained):
            # [seeds, cand, ...] -> cand-major rows
            flat = jax.tree.map(lambda a: jnp.swapaxes(a, 0, 1).reshape((n_cand * n_seeds,) + a.shape[2:]),
                                (params, losses))
            per_ds.append(self._evaluate(d, *flat, k_eval, n_cand))
        out = {m: np.stack([p[m] for p in per_ds], axis=1).tolist() for m in METRICS}  # [cand, datasets, seeds]
        return {"ok": True, **out, "train_s": round(t_train, 3), "wall_s": round(time.perf_counter() - t0, 3)}

    def reference(self, req: dict[str, Any]) -> dict[str, Any]:
        """The reference policy itself (no fine-tuning) on the same evaluation keys: [1, datasets, seeds]."""
        import jax
        import jax.numpy as jnp
        import numpy as np

        _, k_eval = self._keys(req["keys"])
        n = k_eval.shape[0]
        steps = self.engine.cfg["inner"]["steps"]
        per_ds = []
        for d, dom in enumerate(self.engine.domains()):
            params = jax.tree.map(lambda a: jnp.broadcast_to(a, (n,) + a.shape), dom.init_params)
            per_ds.append(self._evaluate(d, params, jnp.zeros((n, steps)), k_eval, 1))
        return {"ok": True, **{m: np.stack([p[m] for p in per_ds], axis=1).tolist() for m in METRICS}}


def apply_limits(argv: list[str]) -> None:
    """--memory-mb N: RLIMIT_AS; --fsize-mb N: RLIMIT_FSIZE (0: no file can be written); no core dumps."""
    import resource

    args = dict(zip(argv[::2], argv[1::2]))
    mem = int(args.get("--memory-mb", 3072)) * 2**20
    fs = int(args.get("--fsize-mb", 0)) * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fs, fs))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main() -> None:
    apply_limits(sys.argv[1:])
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever the code or a library prints cannot corrupt the protocol
    sys.stdout = sys.stderr
    scorer = None
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            if req["op"] == "validate":
                resp = validate(req["code"], req["constants"])
            elif req["op"] == "init":
                scorer = Scorer(req["config"])
                resp = {"ok": True}
            elif req["op"] == "score":
                if scorer is None:
                    raise RuntimeError("score before init")
                resp = scorer.score(req)
            elif req["op"] == "reference":
                if scorer is None:
                    raise RuntimeError("reference before init")
                resp = scorer.reference(req)
            elif req["op"] == "ping":
                resp = {"ok": True}
            else:
                resp = {"ok": False, "error": f"unknown op {req['op']!r}"}
        except MemoryError:
            resp = {"ok": False, "stage": "limit", "error": "the worker ran out of memory (the memory limit)"}
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            resp = {"ok": False, "error": _short(e)}
        proto.write(json.dumps(resp) + "\n")
        proto.flush()


if __name__ == "__main__":
    main()
