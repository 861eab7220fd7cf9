"""`mpo study`: the discovery study (issue 16), resumable (`python -m experiments.discovery_study` is the same).

Stages, each reusing what a previous (killed) call finished: `variants` (the search protocols compared on
the plan's variant setting), `targets` (search, select, test on every target setting), `transfer`, `report`
(experiments/reports/discovery.md and its figures); `all` runs them in order.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from discovery.config import REPO
from discovery.outputs import add_force_flag, check_dir, check_files

OUT = REPO / "experiments" / "reports" / "study"
SUITE_CACHE = REPO / "experiments" / "reports" / "suite_runs"
STAGES = ("variants", "targets", "transfer", "report", "all")


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--stage", choices=STAGES, default="all")
    ap.add_argument("--out", type=Path, default=OUT, help="study directory (runs, results, transfer)")
    ap.add_argument("--suite-cache", type=Path, default=SUITE_CACHE, help="the suite's per-setting results")
    ap.add_argument("--report", type=Path, default=REPO / "experiments" / "reports" / "discovery.md")
    ap.add_argument("--plan", type=Path, help='JSON {"study": {StudyPlan fields}, "suite": {SuitePlan fields}, '
                    '"out": DIR, "suite_cache": DIR} (e.g. experiments/configs/study_paper.json, the accelerator scale)')
    ap.add_argument("--targets", help="comma-separated target settings (default: the plan's)")
    ap.add_argument("--variant", help="the search protocol of the targets (default: the plan's)")
    ap.add_argument("--log", action="append", choices=("tensorboard", "wandb"), default=[],
                    help="also log every search's generations to TensorBoard or Weights & Biases (when installed)")
    ap.add_argument("--notes", type=Path, help="markdown placed at the top of the report (the reading of the numbers)")
    add_force_flag(ap, "replace an existing --report, its .json and its figures (finished pieces are always reused; "
                   "alias --overwrite)")


def cmd_study(args: argparse.Namespace) -> int:
    from discovery.study.plan import study_plan
    from discovery.study.run import run_target, run_transfer
    from discovery.suite.plan import suite_plan
    from envs import runtime

    if args.notes and not args.notes.is_file():
        raise FileNotFoundError(f"--notes: {args.notes} not found")
    fields, suite_fields = {}, {}
    if args.plan:
        spec = json.loads(args.plan.read_text())
        unknown = set(spec) - {"study", "suite", "out", "suite_cache"}
        if unknown:
            raise ValueError(f"--plan {args.plan}: unknown key(s) {sorted(unknown)}; allowed: study, suite, out, suite_cache")
        tup = lambda d: {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}  # noqa: E731
        fields, suite_fields = tup(spec.get("study", {})), tup(spec.get("suite", {}))
        args.out = REPO / spec["out"] if "out" in spec else args.out
        args.suite_cache = REPO / spec["suite_cache"] if "suite_cache" in spec else args.suite_cache
        if suite_fields and args.suite_cache == SUITE_CACHE:
            raise ValueError(f"--plan {args.plan}: a changed suite plan needs its own suite_cache (the shipped "
                             f"{SUITE_CACHE.relative_to(REPO)} holds the default plan's results)")
    if args.targets:
        fields["targets"] = tuple(args.targets.split(","))
    if args.variant:
        fields["variant"] = args.variant
    plan, suite = study_plan(**fields), suite_plan(**suite_fields)  # validated before any work
    if args.stage in ("report", "all"):  # the report's files are checked before hours of searching, not after
        from discovery.study.report import report_outputs

        check_files(report_outputs(plan, args.report), args.force, flag="--report")
    if args.stage != "report":
        check_dir(args.out, force=True)  # the study directory is resumed into: only a file or read-only is refused
    runtime.enable_compilation_cache()
    t0 = time.time()
    log = lambda s: print(f"[{time.time() - t0:7.0f} s] {s}", flush=True)  # noqa: E731
    if args.stage in ("variants", "all"):
        for v in plan.variants:
            run_target(plan, suite, plan.variant_setting, v, args.out, args.suite_cache, log, args.log,
                       plan.variant_start)
    targets = {}
    if args.stage in ("targets", "transfer", "all"):
        targets = {s: run_target(plan, suite, s, plan.variant, args.out, args.suite_cache, log, args.log)
                   for s in plan.targets}
    if args.stage in ("transfer", "all"):
        run_transfer(plan, suite, targets, args.out, args.suite_cache, log)
    if args.stage in ("report", "all"):
        from discovery.study.report import write_study_report

        command = "mpo study " + shlex.join(sys.argv[2:] if sys.argv[1:2] == ["study"] else sys.argv[1:])
        write_study_report(plan, suite, args.out, args.suite_cache, args.report, log, command.strip(),
                           args.notes.read_text() if args.notes else "")
    return 0


def register(sub) -> None:
    p = sub.add_parser("study", help="the discovery study: search per setting, select, test, transfer",
                       description=__doc__)
    add_arguments(p)
    p.set_defaults(func=cmd_study)
