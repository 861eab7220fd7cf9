"""The held-out report of a propose run, as `mpo search` ends: chosen on validation seeds, scored on test seeds
next to tuned baselines and the reference policy, every entry on the same evaluation keys (paired).

1. The final proposal: the `select.top_k` best proposals of the archive by search-time fitness (the max
   of noisy evaluations, never itself a result), each at every learning rate of `report.learning_rates`,
   re-scored on `select.seeds` VALIDATION seeds; the best by validation score is chosen.
2. Tuned baselines: each seed proposal (DPO, SLiC, IPO, DiscoPOP) on beta x `beta_scales` x learning rate,
   the same validation seeds, the best cell chosen: the same tuning budget as the suite's table.
3. Test: the chosen proposal, the best search-time proposal, the tuned baselines and the reference policy on
   `report.seeds` TEST seeds (disjoint from the search's generation keys and the validation seeds).
Everything runs in the scoring worker: proposal code never runs in this process.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from discovery.proposers import sandbox
from discovery.proposers.archive import Archive
from discovery.proposers.proposal import Proposal, from_json, seed_proposals
from discovery.proposers.scoring import group_by_form, score_group
from discovery.proposers.symbolic import closed_form
from discovery.streams import TEST_STREAM, VALIDATION_STREAM

REFERENCE = "reference policy (no fine-tuning)"


def _proposal(r: dict[str, Any]) -> Proposal:
    return from_json({k: r[k] for k in ("name", "thought", "code", "constants")})


def describe(r: dict[str, Any]) -> str:
    """A record's closed form with its constants (symbolic trees), else its code's return line."""
    values = {k: v["value"] for k, v in r["constants"].items()}
    if r.get("tree"):
        return closed_form(r["tree"], values)
    return "see code; constants " + json.dumps({k: round(v, 4) for k, v in values.items()})


def _score_cells(worker: sandbox.Worker, cells: list[tuple[Proposal, float]], keys: dict[str, Any]) -> list[dict]:
    """Metrics per (proposal, learning rate) cell; cells of one form are one program."""
    out: list[dict | None] = [None] * len(cells)
    for _, members in group_by_form(list(enumerate(p for p, _ in cells))).items():
        idx = [i for i, _ in members]
        metrics, err, _ = score_group(worker, [cells[i][0] for i in idx], [cells[i][1] for i in idx], keys)
        if err is not None:
            raise RuntimeError(f"report: {err}")
        for i, m in zip(idx, metrics):
            out[i] = m
    return out  # type: ignore[return-value]


def _valid_mean(m: dict) -> float:
    f = m["fitness"]
    return float(np.mean(f)) if np.all(np.isfinite(f)) else -np.inf


def plot_archive(archive: Archive, out: Path, baselines: dict[str, float]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.3))
    recs = archive.records
    origins = {"seed": ("C2", "seed"), "cma-es": ("C1", "CMA-ES refinement")}
    low = min([r["fitness"] for r in archive.scored()] + [0.0]) - 5
    for origin in sorted({r["origin"] for r in recs}):
        color, label = origins.get(origin, ("C0", f"{origin} proposals"))
        pts = [(r["generation"], r["fitness"]) for r in recs if r["origin"] == origin and r.get("fitness") is not None]
        if pts:
            ax.scatter(*zip(*pts), s=14, color=color, alpha=0.7, label=label)
    bad = [r["generation"] for r in recs if r.get("fitness") is None]
    if bad:
        ax.scatter(bad, [low] * len(bad), marker="x", s=14, color="C3", label=f"refused / failed ({len(bad)})")
    gens = [line["generation"] for line in archive.log]
    ax.plot(gens, [line["best_so_far"] if line["best_so_far"] is not None else np.nan for line in archive.log],
            color="k", lw=1.5, label="best so far (search-time)")
    for i, (name, v) in enumerate(baselines.items()):
        ax.axhline(v, color=f"C{4 + i}", ls=":", lw=1, label=f"{name} (generation 0)")
    ax.set(xlabel="generation", ylabel="search-time fitness (normalized return)", title="Archive: every proposal's score")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def write_report(out: Path, cfg: dict[str, Any], archive: Archive, worker: sandbox.Worker, quiet: bool = False) -> str:
    from discovery.report import table

    rep, sel = cfg["report"], cfg["select"]
    lrs = [float(x) for x in rep["learning_rates"]]
    val_keys = {"seed": cfg["seed"], "stream": "stream", "index": VALIDATION_STREAM, "n": sel["seeds"]}
    test_keys = {"seed": cfg["seed"], "stream": "stream", "index": TEST_STREAM, "n": rep["seeds"]}
    cands = archive.best(sel["top_k"], exclude_seeds=True) or archive.best(sel["top_k"])
    if not cands:
        raise RuntimeError("report: the archive has no scored proposal")
    if not quiet:
        print(f"report: {len(cands)} candidates x {len(lrs)} learning rates on {sel['seeds']} validation seeds")
    cells = [(_proposal(r), lr) for r in cands for lr in lrs]
    val = _score_cells(worker, cells, val_keys)
    vscore = [_valid_mean(m) for m in val]
    ci = int(np.argmax(vscore))
    chosen, chosen_lr = cands[ci // len(lrs)], cells[ci][1]

    seeds = {p.name: p for p in seed_proposals()}
    tuned: dict[str, dict[str, Any]] = {}
    for name in rep["baselines"]:
        base = seeds[name]
        bcells = [(base.with_values({**base.values(), "beta": base.constants["beta"].value * s}), lr)
                  for s in rep["beta_scales"] for lr in lrs]
        bval = [_valid_mean(m) for m in _score_cells(worker, bcells, val_keys)]
        j = int(np.argmax(bval))
        tuned[name] = {"proposal": bcells[j][0], "lr": bcells[j][1], "beta": bcells[j][0].constants["beta"].value,
                       "validation": bval[j]}
    if not quiet:
        print(f"report: testing on {rep['seeds']} test seeds")
    label_chosen = f"discovered: {chosen['name']} (chosen on validation, lr {chosen_lr:g})"
    entries = [(label_chosen, _proposal(chosen), chosen_lr)]
    top = cands[0]
    if top is not chosen or chosen_lr != cfg["inner"]["learning_rate"]:
        entries.append((f"best search-time: {top['name']} (lr {cfg['inner']['learning_rate']:g})", _proposal(top),
                        float(cfg["inner"]["learning_rate"])))
    for name, t in tuned.items():
        entries.append((f"tuned {name} (beta {t['beta']:.3g}, lr {t['lr']:g})", t["proposal"], t["lr"]))
    test = _score_cells(worker, [(p, lr) for _, p, lr in entries], test_keys)
    ref = worker.request({"op": "reference", "keys": test_keys})
    if not ref.get("ok"):
        raise RuntimeError(f"report: evaluating the reference failed: {ref.get('error')}")
    results = {REFERENCE: {k: np.asarray(ref[k][0], np.float64) for k in ("fitness", "return", "kl", "length", "heldout_accuracy", "nan")}}
    results[REFERENCE]["heldout_accuracy"] = np.full_like(results[REFERENCE]["fitness"], np.nan)
    for (label, _, _), m in zip(entries, test):
        results[label] = {k: np.asarray(v, np.float64) for k, v in m.items()}
    dpo_label = next((label for label, _, _ in entries if label.startswith("tuned dpo")), None)
    paired = (REFERENCE,) + ((dpo_label,) if dpo_label else ())
    rows, md = table(results, paired_with=paired)
    base_scores = {r["name"]: r["fitness"] for r in archive.records if r["origin"] == "seed" and r.get("fitness") is not None}
    plot_archive(archive, out / "archive.png", base_scores)

    n_rec = len(archive.records)
    stages: dict[str, int] = {}
    for r in archive.records:
        stages[r["stage"]] = stages.get(r["stage"], 0) + 1
    wall = sum(line["wall_s"] for line in archive.log)
    best = {"name": chosen["name"], "generation": chosen["generation"], "origin": chosen["origin"],
            "learning_rate": chosen_lr, "search_fitness": chosen["fitness"], "validation_fitness": vscore[ci],
            "closed_form": describe(chosen), **_proposal(chosen).to_json(), "tree": chosen.get("tree"),
            "candidates": [{"name": r["name"], "learning_rate": lr, "search_fitness": r["fitness"], "validation": v}
                           for (r, lr, v) in [(cands[i // len(lrs)], cells[i][1], vscore[i]) for i in range(len(cells))]],
            "tuned_baselines": {k: {"beta": t["beta"], "lr": t["lr"], "validation": t["validation"]} for k, t in tuned.items()}}
    (out / "best.json").write_text(json.dumps(best, indent=2) + "\n")
    cand_lines = ["| candidate | search-time fitness | learning rate | validation fitness | chosen |", "|---|---|---|---|---|"]
    for i, (r, lr) in enumerate((cands[i // len(lrs)], cells[i][1]) for i in range(len(cells))):
        cand_lines.append(f"| {r['name']} (gen {r['generation']}, {r['origin']}) | {r['fitness']:.2f} | {lr:g} | "
                          f"{vscore[i]:.2f} | {'**yes**' if i == ci else ''} |")
    base_lines = ["| baseline | tuned beta | tuned lr | validation fitness |", "|---|---|---|---|"]
    base_lines += [f"| {k} | {t['beta']:.3g} | {t['lr']:g} | {t['validation']:.2f} |" for k, t in tuned.items()]
    text = "\n".join([
        f"# Propose report ({cfg['proposer']} proposer)",
        "",
        f"- datasets: {', '.join(cfg['datasets'])}",
        f"- {archive.generations_done} generations x {cfg['population']} proposals (generation 0: the seed archive), "
        f"{cfg['seeds']} inner seeds each; CMA-ES refinement: {cfg['refine']['generations']} steps x "
        f"{cfg['refine']['population']} per generation",
        f"- inner run: {cfg['inner']['steps']} steps x {cfg['inner']['batch_size']} pairs, lr {cfg['inner']['learning_rate']}, "
        f"{cfg['eval']['episodes']} evaluation episodes",
        f"- archive: {n_rec} records; " + ", ".join(f"{k} {v}" for k, v in sorted(stages.items())) + f"; wall {wall:.0f} s",
        "",
        "## The chosen proposal",
        "",
        f"`{chosen['name']}` (generation {chosen['generation']}, {chosen['origin']}), learning rate {chosen_lr:g}.",
        "",
        f"Closed form (rho = Delta_w - Delta_l, Delta = policy minus reference summed log-prob): `{describe(chosen)}`",
        "",
        "```python",
        chosen["code"].rstrip(),
        "```",
        "",
        f"Constants: `{json.dumps({k: v['value'] for k, v in chosen['constants'].items()})}`",
        "",
        f"## Final selection ({sel['seeds']} validation seeds: split(fold_in(key({cfg['seed']}), VALIDATION_STREAM="
        f"{VALIDATION_STREAM}), {sel['seeds']}))",
        "",
        *cand_lines,
        "",
        "## Tuned baselines (the seed archive, beta x learning rate, same validation seeds)",
        "",
        *base_lines,
        "",
        f"## Test ({rep['seeds']} test seeds: split(fold_in(key({cfg['seed']}), TEST_STREAM={TEST_STREAM}), {rep['seeds']}) "
        f"x {cfg['eval']['episodes']} episodes)",
        "",
        "Every entry and the reference share the evaluation keys, so the 'vs' columns are paired differences "
        "(mean and 95% t-interval over test seeds; * : the interval excludes 0).",
        "",
        md,
        "",
        "![archive](archive.png)",
        "",
    ])
    (out / "report.md").write_text(text)
    (out / "report.json").write_text(json.dumps(rows, indent=2) + "\n")
    # per test seed (mean over datasets), for pairing with other studies on the same test keys
    (out / "test_fitness.json").write_text(json.dumps(
        {label: np.mean(m["fitness"], axis=0).tolist() for label, m in results.items()}, indent=2) + "\n")
    if not quiet:
        print(md)
    return text
