"""`mpo robustness`: per loss, a beta x learning-rate x seed grid as one vmapped program; report + PNGs."""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from discovery.outputs import add_force_flag, check_files

DEFAULT_DATASET = "envs/data/text/length-biased"


def _floats(text: str, flag: str) -> tuple[float, ...]:
    try:
        values = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ValueError(f"{flag}: expected a comma list of numbers, got {text!r}") from None
    if not values:
        raise ValueError(f"{flag}: expected at least one number")
    return values


def plan_from_args(args: argparse.Namespace):
    from discovery.robustness.study import RobustnessPlan

    d = RobustnessPlan()
    return RobustnessPlan(
        losses=tuple(x.strip() for x in args.losses.split(",") if x.strip()) if args.losses else d.losses,
        beta_scales=_floats(args.beta_scales, "--beta-scales") if args.beta_scales else d.beta_scales,
        learning_rates=_floats(args.lrs, "--lrs") if args.lrs else d.learning_rates,
        seeds=args.seeds if args.seeds is not None else d.seeds,
        steps=args.steps if args.steps is not None else d.steps,
        batch_size=args.batch_size if args.batch_size is not None else d.batch_size,
        seed=args.seed,
    )


def cmd_robustness(args: argparse.Namespace) -> int:
    from discovery.robustness.report import summary_table, write_report
    from discovery.robustness.study import run_study

    plan = plan_from_args(args)  # validates before any work
    if args.prompts < 1 or args.samples < 1:
        raise ValueError(f"--prompts {args.prompts} / --samples {args.samples}: allowed values >= 1")
    out = Path(args.out)
    if args.notes and not Path(args.notes).is_file():
        raise FileNotFoundError(f"--notes: {args.notes} not found")
    # the report, its .json and its figures (a folder named after it), all checked before any work
    figures = out.with_suffix("")
    check_files([out, out.with_suffix(".json"), figures / "length_vs_quality.png",
                 *(figures / f"heatmap_{loss}.png" for loss in plan.losses)], args.force)
    from envs.runtime import enable_compilation_cache

    enable_compilation_cache()
    t0 = time.time()
    say = (lambda s: None) if args.quiet else (
        lambda s: print(f"[{time.time() - t0:6.1f}s] {s}", file=sys.stderr, flush=True))
    result = run_study(args.dataset, plan, args.prompts, args.samples, log=say)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = "mpo " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else "mpo robustness"
    notes = []
    if args.notes:
        notes = Path(args.notes).read_text().splitlines()
    write_report(result, out, command, time.time() - t0, notes)
    print(summary_table(result["summaries"]))
    print(f"wrote {out}, {out.with_suffix('.json')} and PNGs in {out.with_suffix('')}/")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("robustness", help="beta x learning-rate robustness of losses (one program per loss)")
    p.add_argument("--dataset", default=DEFAULT_DATASET, help=f"dataset directory (default {DEFAULT_DATASET})")
    p.add_argument("--losses", help="comma list of zoo losses with a beta (default sigmoid,ln_dpo,simpo,ipo,discopop)")
    p.add_argument("--beta-scales", help="comma list of multipliers of each loss's default beta (default 0.0625,...,8: x2 steps)")
    p.add_argument("--lrs", help="comma list of learning rates (default 1e-4,3e-4,1e-3,3e-3)")
    p.add_argument("--seeds", type=int, default=None, help="inner seeds per grid point (default 4)")
    p.add_argument("--steps", type=int, default=None, help="fine-tuning steps per run (default 150)")
    p.add_argument("--batch-size", type=int, default=None, help="pairs per step (default 32)")
    p.add_argument("--prompts", type=int, default=512, help="held-out prompts per evaluation (text; default 512)")
    p.add_argument("--samples", type=int, default=1,
                   help="sampled responses per prompt (text) or episodes (MuJoCo) per evaluation (default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="experiments/reports/robustness.md",
                   help="markdown report (PNGs go to a folder of the same name)")
    p.add_argument("--notes", help="markdown file included in the report after the computed findings")
    add_force_flag(p, "overwrite --out, its .json and its PNGs (alias --overwrite)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_robustness)
