"""`mpo plot`: fitness curves of runs on one figure, and each finished run's loss shape."""
from __future__ import annotations

import argparse
from pathlib import Path

from discovery import run_dir as rd
from discovery.outputs import add_force_flag, check_files


def cmd_plot(args: argparse.Namespace) -> int:
    from discovery.figures import plot_fitness, plot_loss_shape
    from discovery.loading import load

    runs = [Path(r) for r in args.runs]
    for r in runs:
        if not (r / rd.LOG).exists():
            raise FileNotFoundError(f"plot: {r} has no {rd.LOG}; not a run directory")
    out = Path(args.out) if args.out else runs[0] / "fitness_curves.png"
    if out.suffix.lower() != ".png":
        raise ValueError(f"--out: expected a .png file, got '{out}'")
    finished = [r for r in runs if (r / rd.BEST).exists()]
    shapes = {r: out.with_name(f"{out.stem}_{r.name}_loss_shape.png") for r in finished}
    check_files([out, *shapes.values()], args.force)  # every output, before any is written
    losses = {r: load(r).params for r in finished}  # every best.json validated before any is written
    plot_fitness(runs, out)
    print(f"wrote {out}")
    for r, shape in shapes.items():
        plot_loss_shape(losses[r], shape, label=r.name)
        print(f"wrote {shape}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("plot", help="fitness curves of runs on one figure, and discovered loss shapes")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--out", help="output PNG (default RUN_DIR/fitness_curves.png of the first run)")
    add_force_flag(p, "overwrite --out and the loss-shape PNGs beside it (alias --overwrite)")
    p.set_defaults(func=cmd_plot)
