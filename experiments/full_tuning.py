"""How far the suite's second look (each loss's 2 best cells of the 4-seed first stage, chosen on 12 validation
seeds) is from a full 12-seed tuning (all 6 cells of each loss on 12 seeds), on four hopper settings: clean and
flips-0.3 (the noise claim's ends), mixed-quality, and high-temperature (DPO's grid is flat there,
suite_notes.md Limits).

    python -m experiments.full_tuning            # computes what full_tuning_runs/ lacks, writes full_tuning.md
    python -m experiments.full_tuning --cached-only

The full tuning is `mpo data suite --confirm-cells 6` on a cache of its own. A missing row is seeded there with
the suite's shipped row: where that row was computed on this machine and packages, its first stage (the same 216
runs on the same keys) is handed on, and only the 432 second-look runs and the test stage are computed (about
36 min per setting on one core); elsewhere the row is recomputed from nothing (about 50 min). Both tables score
on the same 16 test seeds, so the change from the two-finalist choice to the full one is a paired difference per
loss (checked: the two rows' reference scores must be bitwise equal, i.e. computed on the same machine).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from discovery.cli import main
from discovery.suite.table import REFERENCE, ci_text, fitness, paired
from experiments.suite import STEPS, rel

REPORTS = Path(__file__).parent / "reports"
SUITE_RUNS = REPORTS / "suite_runs"
RUNS = REPORTS / "full_tuning_runs"
REPORT = REPORTS / "full_tuning.md"
TASK = "hopper"
SETTINGS = ("clean", "flips-0.3", "mixed-quality", "high-temperature")
CELLS = 6  # every cell of the suite's 3 betas x 2 learning rates


def compare(setting: str, two: dict, full: dict) -> list[str]:
    """One setting's table: per loss, the cell each protocol chose, its 12-seed validation mean and its paired
    test gain over the reference, and the paired test difference full - two."""
    ref = fitness(two, REFERENCE)
    if not np.array_equal(ref, fitness(full, REFERENCE)):
        raise ValueError(f"{setting}: the two rows' reference scores differ: not computed on the same machine and "
                         "keys, so their difference is not paired")
    lines = [f"### {TASK} / {setting}", "",
             "| loss | 2 finalists: beta, lr (validation) | test vs reference | all 6 cells: beta, lr (validation) "
             "| test vs reference | full − 2 finalists (test) |", "|---|---|---|---|---|---|"]
    moved = []
    for name in two["tuned"]:
        a, b = two["tuned"][name], full["tuned"][name]
        same = (a["beta"], a["lr"]) == (b["beta"], b["lr"])
        moved += [] if same else [name]
        diff = "same cell" if same else ci_text(paired(fitness(full, name), fitness(two, name)))
        lines.append(f"| {name} | {a['beta']:.3g}, {a['lr']:.0e} ({a['validation']:.1f}) | "
                     f"{ci_text(paired(fitness(two, name), ref))} | "
                     f"{b['beta']:.3g}, {b['lr']:.0e} ({b['validation']:.1f}) | "
                     f"{ci_text(paired(fitness(full, name), ref))} | {diff} |")
    lines += ["", f"{len(moved)} of {len(two['tuned'])} losses change their tuned cell"
              + (f" ({', '.join(moved)})." if moved else "."), ""]
    return lines


def cli() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cached-only", action="store_true", help="compute nothing: compare what full_tuning_runs/ holds")
    args = p.parse_args()
    RUNS.mkdir(parents=True, exist_ok=True)
    for s in SETTINGS:
        row = RUNS / f"{TASK}__{s}.json"
        if not row.exists() and not args.cached_only:
            shutil.copyfile(SUITE_RUNS / row.name, row)  # a seed: its first stage is handed on where it may be
    argv = ["data", "suite", "--task", TASK, "--settings", ",".join(SETTINGS), "--steps", str(STEPS),
            "--confirm-cells", str(CELLS), "--cache", rel(RUNS), "--out", rel(RUNS / "suite.md"), "--force",
            *(["--cached-only"] if args.cached_only else [])]
    sys.argv = ["mpo", *argv]
    if main(argv):
        return 2
    lines = ["# The second look against a full 12-seed tuning (hopper)", "",
             f"Produced by `python -m experiments.full_tuning`. Per loss: the cell chosen by the suite's second look "
             f"(`{rel(SUITE_RUNS)}`: its 2 best cells of the 4-seed first stage, chosen on 12 validation seeds) and "
             f"the cell chosen with all {CELLS} cells on the same 12 seeds (`{rel(RUNS)}`, per-setting tables in its "
             "suite.md); the validation column is the 12-seed mean; test: paired differences over the same 16 test "
             "seeds, mean ± 95% t-interval, * where the interval excludes 0.", ""]
    for s in SETTINGS:
        row = RUNS / f"{TASK}__{s}.json"
        full = json.loads(row.read_text()) if row.exists() else {"plan": {}}
        if full["plan"].get("confirm_cells") != CELLS:
            lines += [f"### {TASK} / {s}", "", "not run yet", ""]
            continue
        lines += compare(s, json.loads((SUITE_RUNS / f"{TASK}__{s}.json").read_text()), full)
    REPORT.write_text("\n".join(lines))
    print(f"wrote {rel(REPORT)}")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
