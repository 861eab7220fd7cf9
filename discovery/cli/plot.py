"""`mpo plot`: fitness curves of runs on one figure, and each finished run's loss shape."""
from __future__ import annotations

import argparse
from pathlib import Path

from discovery import run_dir as rd


def cmd_plot(args: argparse.Namespace) -> int:
    from discovery.figures import plot_fitness, plot_loss_shape
    from discovery.loading import load

    runs = [Path(r) for r in args.runs]
    for r in runs:
        if not (r / rd.LOG).exists():
            raise FileNotFoundError(f"plot: {r} has no {rd.LOG}; not a run directory")
    out = Path(args.out) if args.out else runs[0] / "fitness_curves.png"
    if out.exists() and not args.force:
        raise FileExistsError(f"--out: {out} exists; pass --force to overwrite it")
    plot_fitness(runs, out)
    print(f"wrote {out}")
    for r in runs:
        if (r / "best.json").exists():
            shape = out.with_name(f"{out.stem}_{r.name}_loss_shape.png")
            plot_loss_shape(load(r).params, shape, label=r.name)
            print(f"wrote {shape}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("plot", help="fitness curves of runs on one figure, and discovered loss shapes")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--out", help="output PNG (default RUN_DIR/fitness_curves.png of the first run)")
    p.add_argument("--force", action="store_true", help="overwrite --out")
    p.set_defaults(func=cmd_plot)
