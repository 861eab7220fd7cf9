"""Independent NumPy implementations of the published formulas (each loss's paper, as cited in its
search_spaces.zoo spec).

Written from the formulas, not from search_spaces: token arrays in, per-pair losses out, float64.
"""
from __future__ import annotations

import numpy as np


def logsig(z):
    return -np.logaddexp(0.0, -z)


def sig(z):
    return np.exp(logsig(z))


def stats(pw, pl, rw, rl, mw, ml):
    mw, ml = mw.astype(bool), ml.astype(bool)
    s = lambda x, m: np.where(m, x, 0.0).sum(-1)
    n_w, n_l = np.maximum(mw.sum(-1), 1).astype(float), np.maximum(ml.sum(-1), 1).astype(float)
    a_w, a_l, r_w, r_l = s(pw, mw), s(pl, ml), s(rw, mw), s(rl, ml)
    return dict(a_w=a_w, a_l=a_l, r_w=r_w, r_l=r_l, n_w=n_w, n_l=n_l, d_w=a_w - r_w, d_l=a_l - r_l)


def _rho(s):
    return s["d_w"] - s["d_l"]


def _log_odds(abar):
    return abar - np.log(-np.expm1(abar))  # log(p / (1 - p)), p = e^abar


def _nll(s):
    return -s["a_w"] / s["n_w"]


REFERENCE = {
    "sigmoid": lambda p, s: -logsig(p["beta"] * _rho(s)),
    "cdpo": lambda p, s: -(1 - p["eps"]) * logsig(p["beta"] * _rho(s)) - p["eps"] * logsig(-p["beta"] * _rho(s)),
    "robust": lambda p, s: (-(1 - p["eps"]) * logsig(p["beta"] * _rho(s)) + p["eps"] * logsig(-p["beta"] * _rho(s)))
    / (1 - 2 * p["eps"]),
    "ipo": lambda p, s: (s["d_w"] / s["n_w"] - s["d_l"] / s["n_l"] - 1 / (2 * p["beta"])) ** 2,
    "ipo_sum": lambda p, s: (_rho(s) - 1 / (2 * p["beta"])) ** 2,
    "hinge": lambda p, s: np.maximum(0.0, 1 - p["beta"] * _rho(s)),
    "exo_pair": lambda p, s: sig(p["beta"] * _rho(s)) * (logsig(p["beta"] * _rho(s)) - np.log(1 - p["eps"]))
    + sig(-p["beta"] * _rho(s)) * (logsig(-p["beta"] * _rho(s)) - np.log(p["eps"])),
    "nca_pair": lambda p, s: -logsig(p["beta"] * s["d_w"]) - 0.5 * logsig(-p["beta"] * s["d_w"])
    - 0.5 * logsig(-p["beta"] * s["d_l"]),
    "bco_pair": lambda p, s: -logsig(p["beta"] * s["d_w"]) - logsig(-p["beta"] * s["d_l"]),
    "sppo_hard": lambda p, s: (s["d_w"] - 1 / (2 * p["beta"])) ** 2 + (s["d_l"] + 1 / (2 * p["beta"])) ** 2,
    "apo_zero": lambda p, s: (1 - sig(p["beta"] * s["d_w"])) + sig(p["beta"] * s["d_l"]),
    "apo_down": lambda p, s: sig(p["beta"] * s["d_w"]) + (1 - sig(p["beta"] * _rho(s))),
    "kto_pair": lambda p, s: _kto_pair(p, s),
    "aot": lambda p, s: _aot(p, s),
    "discopop": lambda p, s: (1 - sig(p["beta"] * _rho(s) / p["discopop_tau"])) * np.log1p(np.exp(-p["beta"] * _rho(s)))
    + sig(p["beta"] * _rho(s) / p["discopop_tau"]) * np.exp(-p["beta"] * _rho(s)),
    "ln_dpo": lambda p, s: -logsig(p["beta"] * (s["d_w"] / s["n_w"] - s["d_l"] / s["n_l"])),
    "rdpo_length": lambda p, s: -logsig(p["beta"] * _rho(s) + p["alpha"] * (s["n_w"] - s["n_l"])),
    "orpo": lambda p, s: _nll(s)
    - p["beta"] * logsig(_log_odds(s["a_w"] / s["n_w"]) - _log_odds(s["a_l"] / s["n_l"])),
    "cpo": lambda p, s: -(1 - p["eps"]) * logsig(p["beta"] * (s["a_w"] - s["a_l"]))
    - p["eps"] * logsig(-p["beta"] * (s["a_w"] - s["a_l"]))
    + p["alpha"] * _nll(s),
    "simpo": lambda p, s: -logsig(p["beta"] * s["a_w"] / s["n_w"] - p["beta"] * s["a_l"] / s["n_l"] - p["gamma"]),
}


def _kto_pair(p, s):
    # TRL <= 0.8: 2B values concat(1 - sig(beta(d_w - z_l)), 1 - sig(beta(z_w - d_l))); the per-pair form
    # averages pair i's two values, which keeps the batch mean.
    z_w, z_l = max(0.0, s["d_w"].mean()), max(0.0, s["d_l"].mean())
    values = np.concatenate([1 - sig(p["beta"] * (s["d_w"] - z_l)), 1 - sig(p["beta"] * (z_w - s["d_l"]))])
    b = s["d_w"].shape[0]
    return 0.5 * (values[:b] + values[b:])


def _aot(p, s):
    d = np.sort(s["a_w"] - s["a_l"]) - np.sort(s["r_w"] - s["r_l"])
    return -(1 - p["eps"]) * logsig(p["beta"] * d) - p["eps"] * logsig(-p["beta"] * d)


def reference_loss(name, params, arrays):
    """Per-pair losses of `name` on token arrays (pw, pl, rw, rl, mw, ml)."""
    return REFERENCE[name](params, stats(*arrays))


def fd_grad(name, params, arrays, h=1e-6):
    """Central finite-difference gradient of the batch-mean loss w.r.t. the four log-prob arrays."""
    grads = []
    for k in range(4):
        base = arrays[k]
        g = np.zeros_like(base)
        for idx in np.ndindex(base.shape):
            plus, minus = list(arrays), list(arrays)
            xp, xm = base.copy(), base.copy()
            xp[idx] += h
            xm[idx] -= h
            plus[k], minus[k] = xp, xm
            g[idx] = (reference_loss(name, params, plus).mean() - reference_loss(name, params, minus).mean()) / (2 * h)
        grads.append(g)
    return grads
