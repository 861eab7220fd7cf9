"""Exact and sampled self-play on preference games: last-iterate convergence of Magnetic PO vs baselines."""
from __future__ import annotations

import functools

import jax
import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import log_softmax

from discovery.magnetic.exact import (
    ALGORITHMS,
    ExactConfig,
    mmd_step,
    parse_algorithms,
    reference_policy,
    run_exact,
    sample_bt_counts,
)
from discovery.magnetic.sampled import SampledConfig, run_sampled
from envs.games import make_games, nash_lp, regularized_nash

CFG = ExactConfig(steps=3000)
SEEDS = [0, 1]


def seed_reference(seed: int, contexts: int, n: int, cfg: ExactConfig) -> tuple[np.ndarray, jax.Array]:
    """The reference log-policy and algorithm key a run derives from `seed` (mirrors magnetic._run_one)."""
    k_ref, k_algo = jax.random.split(jax.random.key(seed))
    return np.asarray(reference_policy(k_ref, contexts, n, cfg.init_spread), np.float64), k_algo


@functools.cache
def mixed_nash_games() -> dict[str, np.ndarray]:
    """Five-response games whose NE is mixed; every test uses this one batch so each algorithm compiles once."""
    skew = make_games("skew", 8, 5, seed=0)
    # The comparison only means something where the NE is mixed: a pure NE is reached by plain MD too.
    skew = skew[[i for i, P in enumerate(skew) if (nash_lp(P) > 1e-6).sum() > 1][:3]]
    return {"cyclic": make_games("cyclic", 1, 5), "cyclic-spread": make_games("cyclic", 1, 5, spread=0.5, seed=1),
            "skew": skew}


def batch() -> np.ndarray:
    return np.concatenate(list(mixed_nash_games().values()))


@functools.cache
def run(name: str) -> tuple[np.ndarray, np.ndarray]:
    return run_exact(name, batch(), SEEDS, CFG)


def test_mpo_last_iterate_converges_while_md_cycles() -> None:
    assert len(batch()) == 5
    mpo, md, md_avg = run("mpo")[0], run("md")[0], run("md-avg")[0]
    assert mpo[..., -1].max() < 1e-3, mpo[..., -1]
    assert md[..., CFG.steps // 3:].min() > 1e-2
    # The averaged MD iterate does approach the NE, far more slowly than MPO's last iterate.
    assert (md_avg[..., -1] < 0.5 * md_avg[..., 0]).all()
    assert (md_avg[..., -1] > mpo[..., -1]).all()


def test_fixed_magnet_mmd_converges_to_the_regularized_nash() -> None:
    G, (_, pi) = batch(), run("mmd")
    for s, seed in enumerate(SEEDS):
        log_ref, _ = seed_reference(seed, 1, 5, CFG)
        assert np.abs(np.exp(log_ref) - 0.2).max() > 0.1  # a non-uniform magnet, so the check can fail
        for g in range(len(G)):
            target = regularized_nash(G[g], np.exp(log_ref), CFG.tau)
            np.testing.assert_allclose(pi[g, s], target, atol=1e-4)
            assert np.abs(target - nash_lp(G[g])).max() > 1e-2  # and the regularized NE is not the NE


def test_online_ipo_and_nash_md_approach_the_regularized_nash() -> None:
    pi_mmd = run("mmd")[1]
    np.testing.assert_allclose(run("online-ipo")[1], pi_mmd, atol=1e-3)
    # Nash-MD's geometric mixture is a first-order approximation: its fixed point is O(eta) away.
    err = np.abs(run("nash-md")[1] - pi_mmd).max()
    assert 1e-4 < err < 0.2


def test_dpo_converges_to_the_bradley_terry_fit_not_the_nash() -> None:
    G, (dg, pi) = batch(), run("dpo")
    for s, seed in enumerate(SEEDS):
        log_ref, k_algo = seed_reference(seed, 1, 5, CFG)
        for g in range(len(G)):
            counts = np.asarray(sample_bt_counts(G[g], log_ref.astype(np.float32), k_algo, CFG.dpo_pairs),
                                np.float64)[0]

            def nll(r: np.ndarray) -> float:
                return float(np.sum(counts * np.logaddexp(0.0, r[None, :] - r[:, None])))

            r = minimize(nll, np.zeros(5), method="BFGS").x
            expected = np.exp(log_softmax(log_ref[0] + r / CFG.dpo_beta))
            np.testing.assert_allclose(pi[g, s, 0], expected, atol=2e-3)
    assert dg[..., -1].min() > 0.05  # a single BT reward cannot express a cyclic preference's NE


def test_mmd_log_space_step_matches_the_probability_formula() -> None:
    rng = np.random.default_rng(0)
    pi, mu = rng.dirichlet(np.ones(4), size=2), rng.dirichlet(np.ones(4), size=2)
    q, eta, tau = rng.uniform(size=(2, 4)), 0.7, 0.3
    direct = (pi * mu ** (eta * tau) * np.exp(eta * q)) ** (1 / (1 + eta * tau))
    direct /= direct.sum(-1, keepdims=True)
    np.testing.assert_allclose(np.exp(mmd_step(np.log(pi), np.log(mu), q, eta, tau)), direct, rtol=1e-5)


def test_runs_are_deterministic_and_seeds_matter() -> None:
    for name in ALGORITHMS:
        a = run(name)[0]
        b = run_exact(name, batch(), SEEDS, CFG)[0]
        assert a.shape == (5, 2, CFG.steps + 1) and np.isfinite(a).all()
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a[:, 0], a[:, 1])


def test_bad_algorithm_and_config_are_rejected_with_the_allowed_values() -> None:
    assert parse_algorithms("mpo, md") == ["mpo", "md"]
    assert parse_algorithms("all") == list(ALGORITHMS)
    with pytest.raises(ValueError, match="algos must be a comma list of mpo, mmd, md"):
        parse_algorithms("mpo,ppo")
    with pytest.raises(ValueError, match="magnet_period"):
        ExactConfig(magnet_period=0)
    with pytest.raises(ValueError, match="eta \\* tau must be < 1"):
        ExactConfig(eta=5.0, tau=0.5)
    with pytest.raises(ValueError, match="batch"):
        SampledConfig(batch=0)


def test_sampled_mpo_approaches_the_nash_while_sampled_md_diverges() -> None:
    G = make_games("cyclic", 1, 3, contexts=2)
    cfg = SampledConfig(iterations=60, inner_steps=5, batch=32, hidden=8)
    mpo = run_sampled("mpo", G, [0, 1, 2], cfg)
    np.testing.assert_array_equal(mpo, run_sampled("mpo", G, [0, 1, 2], cfg))
    md = run_sampled("md", G, [0, 1, 2], cfg)
    assert mpo.shape == md.shape == (1, 3, 61)
    np.testing.assert_array_equal(mpo[..., 0], md[..., 0])  # same reference policy per seed
    # Label noise leaves a floor, so judge the last 10 iterations; on RPS the sampled MD self-play
    # runs to a near-pure policy (DG near 1) while the magnet holds MPO close to uniform.
    assert (mpo[..., -10:].mean(-1) < 0.2).all()
    assert (md[..., -10:].mean(-1) > 0.5).all()


def test_games_cli_writes_curves_and_table_and_refuses_to_overwrite(tmp_path, capsys) -> None:
    from discovery.cli import main

    out = tmp_path / "run"
    argv = ["games", "run", "--game", "skew", "--n", "4", "--games", "2", "--seeds", "2", "--steps", "30",
            "--algos", "mpo,md", "--checkpoints", "10,30", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    assert {p.name for p in out.iterdir()} == {"dg_curves.png", "dg_table.md", "dg_curves.npz", "config.json"}
    table = (out / "dg_table.md").read_text()
    assert "| mpo |" in table and "| md |" in table and "iteration 30" in table
    data = np.load(out / "dg_curves.npz")
    assert data["exact/mpo"].shape == (2, 2, 31)
    before = (out / "dg_table.md").stat().st_mtime_ns
    capsys.readouterr()
    assert main(argv) == 2
    assert "pass --force" in capsys.readouterr().err  # the one flag name; --overwrite stays an alias
    assert (out / "dg_table.md").stat().st_mtime_ns == before
    assert main(argv + ["--overwrite"]) == 0
    assert main(["games", "run", "--game", "poker", "--out", str(tmp_path / "x")]) == 2
    assert "game must be one of transitive, cyclic, skew, annotators" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
