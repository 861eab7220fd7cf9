"""Reproduce the hyperparameter-robustness study: experiments/reports/robustness.md + PNGs + JSON.

    python -m experiments.robustness            # the full study (DPO, LN-DPO, SimPO, IPO, DiscoPOP)
    python -m experiments.robustness --smoke    # a tiny grid into a temporary directory

Same as `mpo robustness` with its defaults: on the length-biased text dataset, per loss an 8 x 4 grid of
beta (x the loss's default) and learning rate, 4 seeds each, 512 held-out prompts per evaluation, every loss's grid one vmapped program.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from discovery.cli import main

REPORT = Path(__file__).parent / "reports" / "robustness.md"
# The human-written interpretation, included in the report after the computed findings.
NOTES = Path(__file__).parent / "reports" / "robustness_notes.md"


def cli() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="tiny grid, written to a temporary directory")
    args = p.parse_args()
    if args.smoke:
        out = Path(tempfile.mkdtemp()) / "robustness.md"
        argv = ["robustness", "--losses", "sigmoid,ln_dpo", "--beta-scales", "1,2", "--lrs", "1e-3", "--seeds", "1",
                "--steps", "10", "--prompts", "32", "--out", str(out)]
    else:
        rel = lambda p: str(p.relative_to(Path.cwd()) if p.is_relative_to(Path.cwd()) else p)  # noqa: E731
        argv = ["robustness", "--out", rel(REPORT), "--notes", rel(NOTES), "--force"]
    sys.argv = ["mpo", *argv]  # the report records the equivalent `mpo` command line
    return main(argv)


if __name__ == "__main__":
    sys.exit(cli())
