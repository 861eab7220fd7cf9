"""`mpo export RUN_OR_LOSS --out FILE.py`: a discovered loss as one self-contained PyTorch file (only torch
needed) with a TRL DPOTrainer subclass that trains with it."""
from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from discovery.outputs import add_force_flag, check_files, write_text


def cmd_export(args: argparse.Namespace) -> int:
    from discovery.export.source import resolve_source
    from discovery.export.torch_source import render

    out = Path(args.out)
    if out.suffix != ".py":
        raise ValueError(f"--out: expected a .py file, got '{out}'")
    if not out.stem.isidentifier():
        raise ValueError(f"--out: '{out.name}' cannot be imported as a module; use letters, digits and _ (e.g. my_loss.py)")
    check_files([out], args.force)
    source = resolve_source(args.loss)
    text = render(source, command=f"mpo export {shlex.quote(args.loss)} --out {shlex.quote(out.name)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out, text)
    print(f"wrote {out}: the Mirror Preference Optimization loss from {source.label} "
          f"(loss() needs only torch; {out.stem}.MirrorPreferenceOptimizationTrainer needs TRL 1.x)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export", help="a discovered loss as a self-contained PyTorch file with a TRL DPOTrainer subclass")
    p.add_argument("loss", metavar="RUN_OR_LOSS",
                   help="a finished run directory (or its best.json), a zoo loss that is a Mirror Preference "
                        "Optimization point with optional hyperparameters (e.g. sigmoid:beta=0.2), or 'mpo'")
    p.add_argument("--out", required=True, help="the .py file to write")
    add_force_flag(p, "overwrite --out if it exists (alias --overwrite)")
    p.set_defaults(func=cmd_export)
