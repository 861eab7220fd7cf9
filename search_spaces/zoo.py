"""The known-loss zoo: published preference losses, each exactly as its paper (cited in its spec) defines it.

Notation (per pair): a = sum of policy token log-probs, r = the same under pi_ref, n = token count,
Delta = a - r, rho = Delta_w - Delta_l, a-bar = a / n. Every function maps (params, batch, tau) to
per-pair losses [B]; `tau` (training progress) is accepted for interface uniformity and unused here.
"""
from __future__ import annotations

import math
from typing import Mapping, NamedTuple

import chex
import jax
import jax.numpy as jnp

from search_spaces.batch import PrefBatch, check_shapes, seq_len, seq_logp
from search_spaces.primitives import (
    discopop_blend,
    f_dpo,
    log1mexp,
    log_sigmoid,
)
from search_spaces.spec import LossSpec

INF = math.inf
POS = (0.0, INF, "()")  # strictly positive
EPS_HALF = (0.0, 0.5, "[)")
REAL = (-INF, INF, "()")


class PairStats(NamedTuple):
    a_w: chex.Array
    a_l: chex.Array
    r_w: chex.Array
    r_l: chex.Array
    n_w: chex.Array
    n_l: chex.Array

    @property
    def d_w(self) -> chex.Array:
        return self.a_w - self.r_w

    @property
    def d_l(self) -> chex.Array:
        return self.a_l - self.r_l

    @property
    def rho(self) -> chex.Array:
        return self.d_w - self.d_l

    @property
    def rho_bar(self) -> chex.Array:
        return self.d_w / self.n_w - self.d_l / self.n_l


def pair_stats(batch: PrefBatch) -> PairStats:
    check_shapes(batch)
    dtype = jnp.result_type(batch.policy_w, batch.policy_l)
    return PairStats(
        a_w=seq_logp(batch.policy_w, batch.mask_w),
        a_l=seq_logp(batch.policy_l, batch.mask_l),
        r_w=seq_logp(batch.ref_w, batch.mask_w),
        r_l=seq_logp(batch.ref_l, batch.mask_l),
        n_w=seq_len(batch.mask_w).astype(dtype),
        n_l=seq_len(batch.mask_l).astype(dtype),
    )


def chosen_nll(batch: PrefBatch) -> chex.Array:
    """Per-example token-mean NLL of the chosen response (ORPO/CPO papers; TRL pools it over the batch)."""
    s = pair_stats(batch)
    return -s.a_w / s.n_w


def _smoothed_logistic(z: chex.Array, eps: chex.Numeric) -> chex.Array:
    return (1.0 - eps) * f_dpo(z) + eps * f_dpo(-z)


# --- reference-based pairwise losses ------------------------------------------------------------

def sigmoid(p: Mapping, b: PrefBatch, tau: chex.Numeric = 0.0) -> chex.Array:
    return f_dpo(p["beta"] * pair_stats(b).rho)


def cdpo(p: Mapping, b: PrefBatch, tau: chex.Numeric = 0.0) -> chex.Array:
    return _smoothed_logistic(p["beta"] * pair_stats(b).rho, p["eps"])


def robust(p: Mapping, b: PrefBatch, tau: chex.Numeric = 0.0) -> chex.Array:
    z = p["beta"] * pair_stats(b).rho
    return ((1.0 - p["eps"]) * f_dpo(z) - p["eps"] * f_dpo(-z)) / (1.0 - 2.0 * p["eps"])


def ipo(p: Mapping, b: PrefBatch, tau: chex.Numeric = 0.0) -> chex.Array:
    return (pair_stats(b).rho_bar - 1.0 / (2.0 * p["beta"])) ** 2


def ipo_sum(p: Mapping, b: PrefBatch, tau: chex.Numeric = 0.0) -> chex.Array:
    return (pair_stats(b).rho - 1.0 / (2.0 * p["beta"])) ** 2


def hinge(p: Mapping, b: PrefBatch, tau: chex.Numeric = 0.0) -> chex.Array:
    return jax.nn.relu(1.0 - p["beta"] * pair_stats(b).rho)


def exo_pair(p: Mapping, b: PrefBatch, tau: chex.Numeric = 0.0) -> chex.Array:
    z, eps = p["beta"] * pair_stats(b).rho, p["eps"]
    return jax.nn.sigmoid(z) * (log_sigmoid(z) - jnp.log1p(-eps)) + jax.nn.sigmoid(-z) * (
        log_sigmoid(-z) - jnp.log(eps)
    )


def nca_pair(p: Mapping, b: PrefBatch, tau: chex.Numeric = 0.0) -> chex.Array:
    s, beta = pair_stats(b), p["beta"]
    return f_dpo(beta * s.d_w) + 0.5 * f_dpo(-beta * s.d_w) + 0.5 * f_dpo(-beta * s.d_l)


def bco_pair(p: Mapping, b: PrefBatch, tau: chex.Numeric = 0.0) -> chex.Array:
    s, beta = pair_stats(b), p["beta"]
    return f_dpo(beta * s.d_w) + f_dpo(-beta * s.d_l)


def sppo_hard(p: Mapping, b: PrefBatch, tau: chex.Numeric = 0.0) -> chex.Array:
    s, half = pair_stats(b), 1.0 / (2.0 * p["beta"])
    return (s.d_w - half) ** 2 + (s.d_l + half) ** 2


def apo_zero(p: Mapping, b: PrefBatch, tau: chex.Numeric = 0.0) -> chex.Array:
    s, beta = pair_stats(b), p["beta"]
    return (1.0 - jax.nn.sigmoid(beta * s.d_w)) + jax.nn.sigmoid(beta * s.d_l)


def apo_down(p: Mapping, b: PrefBatch, tau: chex.Numeric = 0.0) -> chex.Array:
    s, beta = pair_stats(b), p["beta"]
    return jax.nn.sigmoid(beta * s.d_w) + (1.0 - jax.nn.sigmoid(beta * s.rho))


def kto_pair(p: Mapping, b: PrefBatch, tau: chex.Numeric = 0.0) -> chex.Array:
    s, beta = pair_stats(b), p["beta"]
    z_w = jnp.maximum(jnp.mean(s.d_w), 0.0)
    z_l = jnp.maximum(jnp.mean(s.d_l), 0.0)
    return 0.5 * ((1.0 - jax.nn.sigmoid(beta * (s.d_w - z_l))) + (1.0 - jax.nn.sigmoid(beta * (z_w - s.d_l))))


def aot(p: Mapping, b: PrefBatch, tau: chex.Numeric = 0.0) -> chex.Array:
    s = pair_stats(b)
    d = jnp.sort(s.a_w - s.a_l) - jnp.sort(s.r_w - s.r_l)
    return _smoothed_logistic(p["beta"] * d, p["eps"])


def discopop(p: Mapping, b: PrefBatch, tau: chex.Numeric = 0.0) -> chex.Array:
    return discopop_blend(p["beta"] * pair_stats(b).rho, p["discopop_tau"])


# --- length-aware ---------------------------------------------------------------------------------

def ln_dpo(p: Mapping, b: PrefBatch, tau: chex.Numeric = 0.0) -> chex.Array:
    return f_dpo(p["beta"] * pair_stats(b).rho_bar)


def rdpo_length(p: Mapping, b: PrefBatch, tau: chex.Numeric = 0.0) -> chex.Array:
    s = pair_stats(b)
    return f_dpo(p["beta"] * s.rho + p["alpha"] * (s.n_w - s.n_l))


# --- reference-free -------------------------------------------------------------------------------

def orpo(p: Mapping, b: PrefBatch, tau: chex.Numeric = 0.0) -> chex.Array:
    s = pair_stats(b)
    m_w, m_l = s.a_w / s.n_w, s.a_l / s.n_l
    log_odds = (m_w - m_l) - (log1mexp(m_w) - log1mexp(m_l))
    return chosen_nll(b) + p["beta"] * f_dpo(log_odds)


def cpo(p: Mapping, b: PrefBatch, tau: chex.Numeric = 0.0) -> chex.Array:
    s = pair_stats(b)
    return _smoothed_logistic(p["beta"] * (s.a_w - s.a_l), p["eps"]) + p["alpha"] * chosen_nll(b)


def simpo(p: Mapping, b: PrefBatch, tau: chex.Numeric = 0.0) -> chex.Array:
    s = pair_stats(b)
    return f_dpo(p["beta"] * (s.a_w / s.n_w - s.a_l / s.n_l) - p["gamma"])


# The zoo, in the order `mpo losses list` shows it; search_spaces.registry builds its table from it.
ZOO: tuple[LossSpec, ...] = (
    LossSpec("sigmoid", sigmoid, "reference", {"beta": 0.1}, {"beta": POS},
        "-log sig(beta*rho)",
        "Rafailov et al. 2023, Direct Preference Optimization (DPO), arXiv 2305.18290", "sigmoid"),
    LossSpec("cdpo", cdpo, "reference", {"beta": 0.1, "eps": 0.1}, {"beta": POS, "eps": EPS_HALF},
        "-(1-eps)*log sig(beta*rho) - eps*log sig(-beta*rho)",
        "Mitchell 2023, A note on DPO with noisy preferences (conservative DPO), ericmitchell.ai/cdpo.pdf",
        "sigmoid + label_smoothing (TRL <= 0.28)",
        "eps has no published default (TRL's 0 is plain DPO); 0.1 matches the rDPO paper's noise level."),
    LossSpec("robust", robust, "reference", {"beta": 0.1, "eps": 0.1}, {"beta": POS, "eps": EPS_HALF},
        "[-(1-eps)*log sig(beta*rho) + eps*log sig(-beta*rho)] / (1-2eps)",
        "Chowdhury, Kini, Natarajan 2024, Provably Robust DPO (rDPO), arXiv 2403.00409", "robust",
        "Unbounded below for eps > 0."),
    LossSpec("ipo", ipo, "length-aware", {"beta": 0.1}, {"beta": POS},
        "(rho_bar - 1/(2beta))^2, rho_bar = Delta_w/n_w - Delta_l/n_l",
        "Azar et al. 2023, A General Theoretical Paradigm to Understand Learning from Human Preferences (IPO), arXiv 2310.12036",
        "ipo", "TRL's length-averaged convention (the paper's eq. 17 on sequence log-probs is ipo_sum)."),
    LossSpec("ipo_sum", ipo_sum, "reference", {"beta": 0.1}, {"beta": POS},
        "(rho - 1/(2beta))^2",
        "Azar et al. 2023, IPO eq. 17 on sequence log-probs (DiscoPOP repository baseline), arXiv 2310.12036",
        None, "Not a TRL name; beta does not transfer between ipo and ipo_sum."),
    LossSpec("hinge", hinge, "reference", {"beta": 0.1}, {"beta": POS},
        "relu(1 - beta*rho)",
        "Zhao et al. 2023, SLiC-HF, arXiv 2305.10425; Liu et al. 2023, RSO, arXiv 2309.06657", "hinge"),
    LossSpec("exo_pair", exo_pair, "reference", {"beta": 0.1, "eps": 1e-3}, {"beta": POS, "eps": (0.0, 0.5, "()")},
        "KL(Bernoulli(sig(beta*rho)) || Bernoulli(1-eps))",
        "Ji et al. 2024, Towards Efficient Exact Optimization of LM Alignment (EXO), arXiv 2402.00856", "exo_pair"),
    LossSpec("nca_pair", nca_pair, "reference", {"beta": 0.01}, {"beta": POS},
        "-log sig(beta*Delta_w) - 1/2 log sig(-beta*Delta_w) - 1/2 log sig(-beta*Delta_l)",
        "Chen et al. 2024, Noise Contrastive Alignment of LMs with Explicit Rewards (NCA), arXiv 2402.05369", "nca_pair"),
    LossSpec("bco_pair", bco_pair, "reference", {"beta": 0.1}, {"beta": POS},
        "-log sig(beta*Delta_w) - log sig(-beta*Delta_l)",
        "Jung et al. 2024, Binary Classifier Optimization for LLM Alignment (BCO), arXiv 2404.04656", "bco_pair",
        "TRL >= 0.29 form, without the running-mean shift delta of TRL <= 0.28 (that one is stateful)."),
    LossSpec("sppo_hard", sppo_hard, "reference", {"beta": 0.001}, {"beta": POS},
        "(Delta_w - 1/(2beta))^2 + (Delta_l + 1/(2beta))^2",
        "Wu et al. 2024, Self-Play Preference Optimization (SPPO), arXiv 2405.00675", "sppo_hard"),
    LossSpec("apo_zero", apo_zero, "reference", {"beta": 0.1}, {"beta": POS},
        "[1 - sig(beta*Delta_w)] + sig(beta*Delta_l)",
        "D'Oosterlinck et al. 2024, Anchored Preference Optimization (APO), arXiv 2408.06266 eq. 7", "apo_zero"),
    LossSpec("apo_down", apo_down, "reference", {"beta": 0.1}, {"beta": POS},
        "sig(beta*Delta_w) + [1 - sig(beta*rho)]",
        "D'Oosterlinck et al. 2024, Anchored Preference Optimization (APO), arXiv 2408.06266 eq. 8", "apo_down"),
    LossSpec("kto_pair", kto_pair, "batch-coupled", {"beta": 0.1}, {"beta": POS},
        "1/2[(1 - sig(beta(Delta_w - z_l))) + (1 - sig(beta(z_w - Delta_l)))], z = max(0, batch mean Delta)",
        "Ethayarajh et al. 2024, KTO: Model Alignment as Prospect Theoretic Optimization, arXiv 2402.01306",
        "kto_pair (TRL <= 0.8)", "Per-pair form of the 2B-value TRL loss (same batch mean).", batch_coupled=True),
    LossSpec("aot", aot, "batch-coupled", {"beta": 0.01, "eps": 0.0}, {"beta": POS, "eps": EPS_HALF},
        "-(1-eps) log sig(beta*d_i) - eps log sig(-beta*d_i), d = sort(a_w - a_l) - sort(r_w - r_l)",
        "Melnyk et al. 2024, Distributional Preference Alignment of LLMs via Optimal Transport (AOT), arXiv 2406.05882",
        "aot", "Sorting couples the batch: loss i does not belong to pair i.", batch_coupled=True),
    LossSpec("discopop", discopop, "reference", {"beta": 0.05, "discopop_tau": 0.05}, {"beta": POS, "discopop_tau": POS},
        "(1 - sig(beta*rho/t))*log(1 + e^(-beta*rho)) + sig(beta*rho/t)*e^(-beta*rho)",
        "Lu et al. 2024, Discovering Preference Optimization Algorithms with and for LLMs (DiscoPOP/LRML), arXiv 2406.08414",
        "discopop", "e^(-z) exponent capped at 50 so the loss stays finite."),
    LossSpec("ln_dpo", ln_dpo, "length-aware", {"beta": 0.1}, {"beta": POS},
        "-log sig(beta*(Delta_w/n_w - Delta_l/n_l))",
        "Ahrabian et al. 2025, A Practical Analysis of Human Alignment with *PO (LN-DPO), arXiv 2407.15229",
        "sigmoid_norm (TRL >= 1.4)"),
    LossSpec("rdpo_length", rdpo_length, "length-aware", {"beta": 0.1, "alpha": 0.01}, {"beta": POS, "alpha": REAL},
        "-log sig(beta*rho + alpha*(n_w - n_l))",
        "Park, Rafailov, Ermon, Finn 2024, Disentangling Length from Quality in DPO (R-DPO), arXiv 2403.19159",
        None, "Sign derived from the paper's objective (a length penalty on the reward); alpha has no published default."),
    LossSpec("orpo", orpo, "reference-free", {"beta": 0.1}, {"beta": POS},
        "-a_bar_w - lambda*log sig(log odds_w - log odds_l), odds = p/(1-p), p = e^(a_bar)",
        "Hong, Lee, Thorne 2024, ORPO: Monolithic Preference Optimization without Reference Model, arXiv 2403.07691",
        "ORPOTrainer (beta = lambda)", "NLL is the per-example token mean (paper); TRL pools it over the batch."),
    LossSpec("cpo", cpo, "reference-free", {"beta": 0.1, "eps": 0.0, "alpha": 1.0},
        {"beta": POS, "eps": EPS_HALF, "alpha": (0.0, INF, "[)")},
        "-(1-eps) log sig(beta(a_w - a_l)) - eps log sig(-beta(a_w - a_l)) + alpha*NLL(y_w)",
        "Xu et al. 2024, Contrastive Preference Optimization (CPO), arXiv 2401.08417",
        "CPOTrainer sigmoid (alpha = cpo_alpha)", "NLL is the per-example token mean."),
    LossSpec("simpo", simpo, "reference-free", {"beta": 2.0, "gamma": 0.5}, {"beta": POS, "gamma": REAL},
        "-log sig(beta*a_bar_w - beta*a_bar_l - gamma)",
        "Meng, Xia, Chen 2024, SimPO: Simple Preference Optimization with a Reference-Free Reward, arXiv 2405.14734",
        "CPOTrainer simpo (cpo_alpha = 0)", "Defaults from the reference repository (beta 2.0, gamma/beta 0.25); paper formula."),
)
