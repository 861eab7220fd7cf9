"""The symbolic-proposer report: `python -m experiments.proposer RUN_DIR [--notes FILE] [--mpo-study JSON]`.

Reads a finished `mpo propose` run directory (its archive, log, best.json and report.json) and writes
experiments/reports/proposer.md (+ proposer.json, proposer_archive.png): the best discovered form and its closed
form, its test score next to tuned DPO (paired on the same evaluation keys), the archive's course, and, given
`--mpo-study` (a `mpo study` result JSON on the same setting and test keys), the best MPO search result paired
per test seed with the same numbers. No proposal code runs here: everything is read from JSON.
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
from scipy import stats

REPORTS = Path(__file__).resolve().parent / "reports"


def paired(a, b) -> tuple[float, float]:
    d = np.asarray(a, float) - np.asarray(b, float)
    half = float(stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size))
    return float(d.mean()), half


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--notes", help="a markdown file placed after the title (the reading of the numbers)")
    ap.add_argument("--mpo-study", help="a `mpo study` result JSON on the same setting (its 'test' per-seed numbers)")
    ap.add_argument("--out", default=str(REPORTS / "proposer.md"))
    args = ap.parse_args(argv)
    run, out = Path(args.run_dir), Path(args.out)
    cfg = json.loads((run / "config.json").read_text())
    best = json.loads((run / "best.json").read_text())
    rows = json.loads((run / "report.json").read_text())
    tests = json.loads((run / "test_fitness.json").read_text()) if (run / "test_fitness.json").exists() else None
    archive = [json.loads(line) for line in (run / "archive.jsonl").read_text().splitlines() if line.strip()]
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    report_md = (run / "report.md").read_text()
    stages = Counter(r["stage"] for r in archive)
    origins = Counter(r["origin"] for r in archive)
    forms = {r["form"] for r in archive if r.get("form")}
    wall = sum(line["wall_s"] for line in log)
    lines = ["# Symbolic proposer on hopper noisy-0.3 (the DiscoPOP loop, offline)", ""]
    if args.notes:
        lines += [Path(args.notes).read_text().rstrip(), ""]
    lines += [
        "## The run",
        "",
        f"Produced by `mpo propose --proposer symbolic --dataset {' '.join(cfg['datasets'])} --generations "
        f"{cfg['generations']} --population {cfg['population']} --seeds {cfg['seeds']} --set refine.generations="
        f"{cfg['refine']['generations']} --set refine.population={cfg['refine']['population']} --out RUN` (run in three "
        f"resumed pieces of 7 generations, `--stop-after 7`, `--resume RUN --stop-after 14`, `--resume RUN`), then "
        f"`python -m experiments.proposer RUN`.",
        "",
        f"- {len(log)} generations (generation 0: the seed archive DPO, SLiC, IPO, DiscoPOP; then {cfg['population']} "
        f"symbolic proposals and {cfg['refine']['generations']} x {cfg['refine']['population']} CMA-ES refinements of "
        f"the best proposed form per generation), {len(archive)} archive records, {len(forms)} distinct forms; "
        + ", ".join(f"{k}: {v}" for k, v in sorted(origins.items())) + "; stages: "
        + ", ".join(f"{k} {v}" for k, v in sorted(stages.items())),
        f"- inner run: {cfg['inner']['steps']} steps x {cfg['inner']['batch_size']} pairs, lr {cfg['inner']['learning_rate']} "
        f"(the suite's budget), {cfg['eval']['episodes']} evaluation episodes, {cfg['seeds']} inner seeds per proposal "
        f"(fold_in(key({cfg['seed']}), generation)); loop wall time {wall / 60:.1f} min on the shared 2-core CPU "
        "(nice 10, next to other jobs)",
        "",
        "## The chosen proposal",
        "",
        f"`{best['name']}` (generation {best['generation']}, {best['origin']}), chosen among the "
        f"{cfg['select']['top_k']} best proposals by search-time fitness, each at learning rate "
        f"{', '.join(str(x) for x in cfg['report']['learning_rates'])}, on {cfg['select']['seeds']} validation seeds; "
        f"learning rate {best['learning_rate']:g}.",
        "",
        f"Closed form (rho = Delta_w - Delta_l, Delta = policy minus reference summed log-prob; d_w = Delta_w, "
        f"d_l = Delta_l; rho_bar = Delta_w/n_w - Delta_l/n_l): **`{best['closed_form']}`**",
        "",
        "```python",
        best["code"].rstrip(),
        "```",
        "",
        f"Constants: `{json.dumps({k: v['value'] for k, v in best['constants'].items()})}`. Search-time fitness "
        f"{best['search_fitness']:.2f} (mean of {cfg['seeds']} seeds; the max of many noisy evaluations), validation "
        f"{best['validation_fitness']:.2f}.",
        "",
    ]
    # the numbers of the run's own report: selection, tuned baselines, test table
    i = report_md.index("## Final selection")
    lines += [report_md[i:].replace("![archive](archive.png)", "![archive](proposer_archive.png)").rstrip(), ""]
    if args.mpo_study and tests is not None:
        study = json.loads(Path(args.mpo_study).read_text())
        chosen_label = next(k for k in tests if k.startswith("discovered:"))
        dpo_label = next(k for k in tests if k.startswith("tuned dpo"))
        mpo = study["test"]["discovered"]["fitness"]
        same = np.allclose(study["test"]["tuned sigmoid"]["fitness"], tests[dpo_label]) if \
            study["tuned"]["sigmoid"]["beta"] == best["tuned_baselines"]["dpo"]["beta"] and \
            study["tuned"]["sigmoid"]["lr"] == best["tuned_baselines"]["dpo"]["lr"] else None
        d, h = paired(tests[chosen_label], mpo)
        lines += [
            "## Next to the best MPO search result",
            "",
            f"From `{args.mpo_study}` (the discovery study on the same dataset: CMA-ES over the MPO family from "
            f"tuned DPO, population {study['config']['strategy']['population']}, {study['config']['generations']} "
            f"generations, final loss chosen on {study['config']['select']['seeds']} validation seeds; its test: the "
            "suite's 16 test seeds x 8 episodes, the same keys as above). It chose "
            f"**{study['best']['chosen']}** (validation {study['best']['validation_fitness']:.2f}), so its test score is "
            f"{np.mean(mpo):.2f}.",
            "",
            f"- tuned DPO here and in that study {'give identical per-seed test numbers' if same else 'differ'}"
            f"{' (the evaluation keys and programs agree, so the pairing below is exact)' if same else ''}.",
            f"- chosen proposal minus the MPO search result, paired over the 16 test seeds: **{d:+.2f} ± {h:.2f}**"
            f"{' *' if abs(d) > h else ''}.",
            f"- the study's best tuned zoo loss on this setting, {study['best_zoo']}: "
            f"{np.mean(study['test'].get('tuned ' + study['best_zoo'], {'fitness': [float('nan')]})['fitness']):.2f}; chosen "
            f"proposal minus it: {paired(tests[chosen_label], study['test']['tuned ' + study['best_zoo']]['fitness'])[0]:+.2f} ± "
            f"{paired(tests[chosen_label], study['test']['tuned ' + study['best_zoo']]['fitness'])[1]:.2f}.",
            "",
        ]
    lines += ["## Archive, per generation", "", "| generation | scored | best | best so far | wall (s) |", "|---|---|---|---|---|"]
    for line in log:
        fmt = lambda v: "—" if v is None else f"{v:.1f}"  # noqa: E731
        lines.append(f"| {line['generation']} | {line['scored']}/{line['proposals']} | {fmt(line['best'])} | "
                     f"{fmt(line['best_so_far'])} | {line['wall_s']:.0f} |")
    top = sorted([r for r in archive if r.get("fitness") is not None and r["origin"] != "seed"], key=lambda r: -r["fitness"])
    seen, top_forms = set(), []
    for r in top:
        if r["form"] not in seen:
            seen.add(r["form"])
            top_forms.append(r)
        if len(top_forms) == 8:
            break
    from discovery.proposers.report import describe

    lines += ["", "Best forms of the archive (search-time fitness, best record of each form):", "",
              "| form | origin | generation | search-time fitness | closed form |", "|---|---|---|---|---|"]
    for r in top_forms:
        lines.append(f"| {r['name']} | {r['origin']} | {r['generation']} | {r['fitness']:.1f} | `{describe(r)}` |")
    seeds = [r for r in archive if r["origin"] == "seed"]
    lines += ["", "Seed archive at generation 0 (default constants, lr " + str(cfg["inner"]["learning_rate"]) + "): "
              + ", ".join(f"{r['name']} {r['fitness']:.1f}" for r in seeds), ""]
    out.write_text("\n".join(lines) + "\n")
    shutil.copy(run / "archive.png", out.with_name("proposer_archive.png"))
    out.with_suffix(".json").write_text(json.dumps({"config": cfg, "best": best, "report_rows": rows, "log": log,
                                                     "test_fitness": tests}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
