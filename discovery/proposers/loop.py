"""The DiscoPOP loop on the MJX evaluator: propose, check, validate, score, (refine), archive; repeat.

Generation 0 scores the seed archive (DPO, SLiC, IPO, DiscoPOP as proposals), so every proposer starts
from the known losses with their scores, as DiscoPOP's loop did. Each later generation asks the proposer
for `population` proposals given the archive, refuses what the allow-list or the validator rejects (the
message is archived and shown to the proposer), and scores the rest with the population engine in the
scoring worker: proposals that share a form are one vmapped program over their constants, every proposal
sees the same inner seeds (fold_in(key(seed), generation)). With `refine.generations` > 0, a short CMA-ES
then tunes the constants of the best form so far (the same compiled program). A generation's records are
written when it ends, with one log line: a killed run resumes at its first unfinished generation and, with
a deterministic proposer (symbolic, replay), reaches the same archive. At the end: the held-out report
(discovery/proposers/report.py).
"""
from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from discovery.proposers import sandbox
from discovery.proposers.archive import Archive
from discovery.proposers.proposal import ProposalError, from_json, seed_proposals
from discovery.proposers.scoring import group_by_form, mean_fitness, score_group

CONFIG = "config.json"
DEFAULTS: dict[str, Any] = {
    "proposer": "symbolic",  # symbolic | openai | replay
    "replay": None,  # replay: the JSONL file
    "openai": {"base_url": None, "model": None, "temperature": 0.8, "timeout_s": 120.0},  # the key: env/flag only
    "datasets": ["envs/data/hopper/noisy-0.3"],
    "seed": 0,
    "generations": 20,
    "population": 6,  # proposals per generation
    "seeds": 2,  # inner seeds per proposal (fitness: mean over seeds and datasets)
    "seed_archive": True,  # generation 0 scores DPO, SLiC, IPO, DiscoPOP
    "inner": {"steps": 200, "batch_size": 32, "learning_rate": 3e-3, "max_grad_norm": 1.0},
    "eval": {"episodes": 8, "episode_length": None, "heldout_fraction": 0.125},
    # CMA-ES on the constants of the best proposed form (each form refined at most max_per_form times)
    "refine": {"generations": 0, "population": 4, "sigma": 0.15, "max_per_form": 2},
    "select": {"top_k": 4, "seeds": 4},  # final choice among the top-k proposals, on validation seeds
    # tuned baselines (seed proposals) on beta x learning rate, scored on test seeds with the chosen proposal
    "report": {"seeds": 16, "baselines": ["dpo", "slic", "ipo", "discopop"], "beta_scales": [0.3, 1.0, 3.0],
               "learning_rates": [1e-3, 3e-3]},
    "limits": {"validate_s": 60.0, "score_s": 1200.0, "init_s": 600.0, "validate_memory_mb": 3072,
               "score_memory_mb": 12288, "score_fsize_mb": 512},
}


def merge(base: dict[str, Any], update: dict[str, Any], where: str = "") -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in update.items():
        if k not in base:
            raise ValueError(f"propose config: unknown key '{where}{k}'; allowed: {', '.join(base)}")
        out[k] = merge(base[k], v, f"{where}{k}.") if isinstance(base[k], dict) and isinstance(v, dict) else v
    return out


def check_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """The propose config with one clear error for the first bad field."""
    def need(ok: bool, key: str, got: Any, allowed: str) -> None:
        if not ok:
            raise ValueError(f"propose config: {key}: got {got!r}; allowed: {allowed}")

    need(cfg["proposer"] in ("symbolic", "openai", "replay"), "proposer", cfg["proposer"], "symbolic, openai, replay")
    for key in ("generations", "population", "seeds"):
        need(isinstance(cfg[key], int) and not isinstance(cfg[key], bool) and cfg[key] >= 1, key, cfg[key], "an integer >= 1")
    need(isinstance(cfg["datasets"], list) and len(cfg["datasets"]) >= 1, "datasets", cfg["datasets"], "one or more dataset directories")
    need(cfg["proposer"] != "replay" or bool(cfg["replay"]), "replay", cfg["replay"], "a JSONL file (--replay FILE)")
    r = cfg["refine"]
    need(isinstance(r["generations"], int) and r["generations"] >= 0, "refine.generations", r["generations"], "an integer >= 0")
    need(isinstance(r["population"], int) and r["population"] >= 2, "refine.population", r["population"], "an integer >= 2")
    need(cfg["select"]["top_k"] >= 1 and cfg["select"]["seeds"] >= 1, "select", cfg["select"], "top_k >= 1, seeds >= 1")
    need(cfg["report"]["seeds"] >= 2, "report.seeds", cfg["report"]["seeds"], "an integer >= 2 (for an interval)")
    known = {p.name for p in seed_proposals()}
    bad = [b for b in cfg["report"]["baselines"] if b not in known]
    need(not bad, "report.baselines", bad, ", ".join(sorted(known)) + " (the seed archive)")
    return cfg


def engine_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """The scoring worker's engine: learning rate 1, every candidate's learning rate enters as lr_scale (the
    suite's convention, so a learning-rate grid is one program)."""
    inner = {**cfg["inner"], "learning_rate": 1.0}
    return {"datasets": cfg["datasets"], "inner": inner, "eval": dict(cfg["eval"])}


def make_workers(out: Path, cfg: dict[str, Any]) -> tuple[sandbox.Worker, sandbox.Worker]:
    lim = cfg["limits"]
    val = sandbox.validator(out / "scratch" / "validate", timeout_s=lim["validate_s"], memory_mb=lim["validate_memory_mb"])
    score = sandbox.Worker(out / "scratch" / "score", memory_mb=lim["score_memory_mb"], fsize_mb=lim["score_fsize_mb"],
                           timeout_s=lim["score_s"], init={"op": "init", "config": engine_config(cfg)},
                           init_timeout_s=lim["init_s"])
    return val, score


def _proposer(cfg: dict[str, Any], api_key: str | None = None):
    if cfg["proposer"] == "symbolic":
        from discovery.proposers.symbolic import SymbolicProposer

        return SymbolicProposer()
    if cfg["proposer"] == "replay":
        from discovery.proposers.replay import ReplayProposer

        return ReplayProposer(cfg["replay"])
    from discovery.proposers.openai_client import ChatClient, OpenAIProposer

    o = cfg["openai"]
    return OpenAIProposer(ChatClient(o["base_url"], o["model"], api_key, timeout_s=o["timeout_s"],
                                     temperature=o["temperature"]))


def evaluate_records(cfg: dict[str, Any], gen: int, raw: Sequence[dict[str, Any]], origin: str,
                     val: sandbox.Worker, score: sandbox.Worker) -> list[dict[str, Any]]:
    """Check, validate and score one generation's raw proposals; one archive record each."""
    records, valid = [], []
    for i, r in enumerate(raw):
        t0 = time.perf_counter()
        rec: dict[str, Any] = {"generation": gen, "index": i, "origin": origin}
        extra = {k: r[k] for k in ("tree", "parents") if k in r}
        try:
            if "invalid" in r:
                raise ProposalError(r["invalid"])
            p = from_json({k: v for k, v in r.items() if k not in ("tree", "parents")})
        except ProposalError as e:
            rec.update({"name": str(r.get("name", "invalid"))[:80], "code": r.get("code") if isinstance(r.get("code"), str) else None,
                        "constants": {}, "form": None, "fitness": None, "error": str(e), "stage": "format",
                        "raw": r.get("raw")})
            records.append(rec)
            continue
        rec.update({**p.to_json(), **extra, "form": p.form})
        err, stage = sandbox.validate(val, p)
        rec["validate_s"] = round(time.perf_counter() - t0, 3)
        rec.update({"fitness": None, "error": err, "stage": stage})
        records.append(rec)
        if err is None:
            valid.append((len(records) - 1, p))
    keys = {"seed": cfg["seed"], "stream": "generation", "index": gen, "n": cfg["seeds"]}
    for form, members in group_by_form(valid).items():
        metrics, err, wall = score_group(score, [p for _, p in members], [cfg["inner"]["learning_rate"]] * len(members), keys)
        for j, (i, _) in enumerate(members):
            rec = records[i]
            rec["score_s"] = round(wall / len(members), 3)
            if err is not None:
                rec.update({"error": err, "stage": "score"})
                continue
            m = metrics[j]
            rec["scores"] = {ds: mean_fitness(m["fitness"][d]) for d, ds in enumerate(cfg["datasets"])}
            rec["fitness"] = mean_fitness(m["fitness"])
            rec["kl"], rec["length"] = float(np.nanmean(m["kl"])), float(np.nanmean(m["length"]))
            if rec["fitness"] is None:
                bad = int(np.sum(~np.isfinite(m["fitness"])))
                rec.update({"error": f"training diverged (NaN/inf loss or parameters) in {bad} of {m['fitness'].size} "
                                     "inner runs", "stage": "score"})
            else:
                rec["stage"] = "scored"
    return records


def refine(cfg: dict[str, Any], gen: int, archive: Archive, pending: list[dict[str, Any]],
           score: sandbox.Worker) -> list[dict[str, Any]]:
    """A short CMA-ES on the constants of the best form so far (unit cube of the declared ranges, log scale
    for positive ranges), every candidate scored on this generation's seeds; one record per candidate."""
    import jax
    import jax.numpy as jnp

    from discovery.strategies import es_fitness, make_strategy

    rc = cfg["refine"]
    # the best proposed form (not a seed: the report tunes those as baselines) whose constants can move and
    # that has not been refined `max_per_form` times yet (so the budget spreads over the good forms)
    everything = archive.records + pending
    refined = {}
    for r in everything:
        if r["origin"] == "cma-es":
            refined[r["form"]] = refined.get(r["form"], 0) + 1
    per_run = rc["generations"] * rc["population"]
    scored = [r for r in everything if r.get("fitness") is not None and r["origin"] != "seed" and r["constants"]
              and refined.get(r["form"], 0) < rc["max_per_form"] * per_run]
    if rc["generations"] == 0 or not scored:
        return []
    best = max(scored, key=lambda r: r["fitness"])
    names = sorted(best["constants"])
    if not names:
        return []
    base = from_json({k: best[k] for k in ("name", "thought", "code", "constants")})
    lo = np.array([base.constants[n].low for n in names], np.float64)
    hi = np.array([base.constants[n].high for n in names], np.float64)
    logs = lo > 0

    def to_unit(v):
        v = np.asarray(v, np.float64)
        u = np.where(logs, (np.log(np.maximum(v, 1e-30)) - np.log(np.where(logs, lo, 1))) /
                     np.where(logs, np.log(hi / np.where(logs, lo, 1)), 1), (v - lo) / np.maximum(hi - lo, 1e-30))
        return np.clip(u, 0, 1)

    def from_unit(u):
        u = np.clip(np.asarray(u, np.float64), 0, 1)
        return np.where(logs, np.exp(np.log(np.where(logs, lo, 1)) + u * np.log(hi / np.where(logs, lo, 1))),
                        lo + u * (hi - lo))

    es, params = make_strategy("cma_es", rc["population"], len(names), rc["sigma"])
    key = jax.random.fold_in(jax.random.key(cfg["seed"] + 7919), gen)
    state = es.init(key, jnp.asarray(to_unit([base.constants[n].value for n in names]), jnp.float32), params)
    keys = {"seed": cfg["seed"], "stream": "generation", "index": gen, "n": cfg["seeds"]}
    records = []
    for r in range(rc["generations"]):
        k_ask, k_tell = jax.random.split(jax.random.fold_in(key, r))
        xs, state = es.ask(k_ask, state, params)
        xs = np.clip(np.asarray(xs), 0, 1)
        props = [base.with_values(dict(zip(names, from_unit(x).tolist())), name=f"{base.name}~cma{gen}.{r}.{i}",
                                  thought=f"CMA-ES on the constants of {base.name} (generation {gen}, step {r})")
                 for i, x in enumerate(xs)]
        metrics, err, wall = score_group(score, props, [cfg["inner"]["learning_rate"]] * len(props), keys)
        fit = []
        for i, p in enumerate(props):
            rec = {"generation": gen, "index": len(pending) + len(records), "origin": "cma-es", **p.to_json(),
                   "form": p.form, "parents": [best["name"]], "score_s": round(wall / len(props), 3), "stage": "scored",
                   "error": err, "fitness": None}
            if "tree" in best:
                rec["tree"] = best["tree"]
            if err is None:
                m = metrics[i]
                rec["scores"] = {ds: mean_fitness(m["fitness"][d]) for d, ds in enumerate(cfg["datasets"])}
                rec["fitness"] = mean_fitness(m["fitness"])
                rec["kl"], rec["length"] = float(np.nanmean(m["kl"])), float(np.nanmean(m["length"]))
                if rec["fitness"] is None:
                    rec.update({"error": "training diverged (NaN/inf)", "stage": "score"})
            else:
                rec["stage"] = "score"
            fit.append(np.nan if rec["fitness"] is None else rec["fitness"])
            records.append(rec)
        state, _ = es.tell(k_tell, jnp.asarray(xs, jnp.float32), es_fitness(jnp.asarray(fit, jnp.float32)), state, params)
    return records


def run_propose(cfg: dict[str, Any] | None, out: Path, resume: bool = False, quiet: bool = False,
                stop_after: int | None = None, report: bool = True, api_key: str | None = None,
                workers: tuple[sandbox.Worker, sandbox.Worker] | None = None) -> dict[str, Any]:
    """Run (or resume) the loop in `out`; returns {"archive": records, "log": lines, "report": ...}.

    `workers` (validator, scorer) from `make_workers` lets several runs with the same datasets, inner run and
    evaluation share the two subprocesses (and their compiled programs); the caller closes them."""
    from discovery.config import resolve_path
    from envs.dataset_io import load_dataset
    from envs.runtime import versions

    out = Path(out)
    if resume:
        path = out / CONFIG
        if not path.exists():
            raise FileNotFoundError(f"--resume: {out} has no {CONFIG}; not a propose run directory")
        cfg = check_config(merge(DEFAULTS, json.loads(path.read_text())))
    else:
        cfg = check_config(merge(DEFAULTS, cfg or {}))
        if out.exists() and any(out.iterdir()):
            raise FileExistsError(f"--out: {out} exists and is not empty; use --resume {out} or another --out")
    for d in cfg["datasets"]:
        load_dataset(resolve_path(d))  # validated before anything is written or started
    proposer = _proposer(cfg, api_key)
    if not resume:
        out.mkdir(parents=True, exist_ok=True)
        (out / CONFIG).write_text(json.dumps(cfg, indent=2) + "\n")
        (out / "versions.json").write_text(json.dumps(versions(), indent=2) + "\n")
    archive = Archive(out)
    archive.truncate()
    start = archive.generations_done
    if resume and start >= cfg["generations"] and (not report or (out / "report.md").exists()):
        raise ValueError(f"--resume: {out} already finished all {cfg['generations']} generations; nothing to do")
    total = cfg["generations"]
    end = total if stop_after is None else min(total, stop_after)
    if workers is None:
        val, score = make_workers(out, cfg)
    else:
        val, score = workers
        if score.init != {"op": "init", "config": engine_config(cfg)}:
            raise ValueError("workers: the scoring worker was built for other datasets, inner run or evaluation")
    try:
        for g in range(start, end):
            t0 = time.perf_counter()
            if g == 0 and cfg["seed_archive"]:
                raw, origin = [p.to_json() for p in seed_proposals()], "seed"
            else:
                rng = np.random.default_rng([cfg["seed"], g])
                raw, origin = proposer.propose(cfg["population"], archive.records, rng), proposer.name
                if not raw:
                    if not quiet:
                        print(f"generation {g}: the proposer has nothing left to propose; stopping")
                    break
            records = evaluate_records(cfg, g, raw, origin, val, score)
            if g > 0 or not cfg["seed_archive"]:
                records += refine(cfg, g, archive, records, score)
            fits = [r["fitness"] for r in records if r.get("fitness") is not None]
            prev = [r["fitness"] for r in archive.scored()]
            line = {"generation": g, "proposals": len(records), "scored": len(fits),
                    "refused": sum(r["stage"] in ("format", "parse") for r in records),
                    "invalid": sum(r["stage"] in ("validate", "limit") for r in records),
                    "failed": sum(r["stage"] == "score" for r in records),
                    "best": max(fits) if fits else None, "best_so_far": max(prev + fits) if prev + fits else None,
                    "wall_s": round(time.perf_counter() - t0, 2)}
            archive.add_generation(records, line)
            if not quiet:
                b = "—" if line["best"] is None else f"{line['best']:.1f}"
                print(f"generation {g}: {line['scored']}/{line['proposals']} scored (refused {line['refused']}, "
                      f"invalid {line['invalid']}, failed {line['failed']}); best {b}, best so far "
                      f"{line['best_so_far'] if line['best_so_far'] is None else round(line['best_so_far'], 1)}; "
                      f"{line['wall_s']:.0f} s", flush=True)
        result: dict[str, Any] = {"archive": archive.records, "log": archive.log, "config": cfg}
        finished = archive.generations_done >= total or (
            stop_after is None and archive.generations_done > 0
            and getattr(proposer, "exhausted", lambda h: False)(archive.records))  # a replay file ran out
        if report and finished:
            from discovery.proposers.report import write_report

            result["report"] = write_report(out, cfg, archive, score, quiet=quiet)
        return result
    finally:
        if workers is None:
            val.close()
            score.close()
