"""`mpo losses list | show NAME | plot NAME... --out FILE.png`: the loss library from the shell."""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from discovery.outputs import add_force_flag, check_files
from search_spaces.mpo import FIELDS, describe
from search_spaces.points import mpo_point, point_names
from search_spaces.registry import get_loss, loss_names
from search_spaces.search_space import SearchSpace


def parse_loss_arg(text: str) -> tuple[str, dict[str, float]]:
    """'NAME' or 'NAME:key=value,key=value' -> (name, overrides); errors name the bad part."""
    name, _, rest = text.partition(":")
    overrides: dict[str, float] = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            raise ValueError(f"loss '{text}': expected key=value after ':', got '{item}'")
        try:
            overrides[key.strip()] = float(value)
        except ValueError:
            raise ValueError(f"loss '{text}': value of {key.strip()} must be a number, got '{value}'") from None
    get_loss(name).params(**overrides)  # validates name, keys and ranges
    return name, overrides


def _hparams(spec) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in spec.defaults.items())


def cmd_list(args: argparse.Namespace) -> int:
    points = set(point_names())
    rows = []
    for name in loss_names():
        spec = get_loss(name)
        if name == "mpo":
            hp = f"search vector: {SearchSpace().size} coords"
            is_point = "family"
        else:
            hp = _hparams(spec)
            is_point = "yes" if name in points else "no"
        rows.append({"name": name, "family": spec.family, "mpo_point": is_point, "hyperparameters": hp,
                     "trl": spec.trl_name or "-", "citation": spec.citation})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    cols = ("name", "family", "mpo_point", "hyperparameters", "citation")
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols[:-1]}
    print("  ".join(c.upper().ljust(widths[c]) for c in cols[:-1]) + "  CITATION")
    for r in rows:
        print("  ".join(r[c].ljust(widths[c]) for c in cols[:-1]) + "  " + r["citation"])
    print(f"\n{len(rows) - 1} known losses ({len(points)} are exact MPO points) + the MPO family. "
          "`mpo losses show NAME` for details.")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    spec = get_loss(args.name)
    print(f"{spec.name}  [{spec.family}]")
    print(f"  formula    : {spec.formula}")
    print(f"  citation   : {spec.citation}")
    if spec.trl_name:
        print(f"  TRL        : {spec.trl_name}")
    if spec.notes:
        print(f"  notes      : {spec.notes}")
    if spec.batch_coupled:
        print("  batch      : coupled (uses statistics of the whole minibatch)")
    if spec.name == "mpo":
        space = SearchSpace()
        print(f"  search     : {space.size} coordinates by default "
              f"({len(space.fields)} fields at tau=0, temporal slopes on {', '.join(space.temporal)})")
        print("  fields     :")
        for name, f in FIELDS.items():
            size = f"[{f.size}]" if f.size else ""
            box = f"box [{f.low:.4g}, {f.high:.4g}]"
            if f.transform == "exp":
                box += f" = log of [{math.exp(f.low):.4g}, {math.exp(f.high):.4g}]"
            print(f"    {name + size:<18} {box:<46} {f.doc}")
        return 0
    for key, value in spec.defaults.items():
        low, high, br = spec.ranges[key]
        print(f"  {key:<11}: {value:g}   allowed {br[0]}{low:g}, {high:g}{br[1]}")
    if spec.name in point_names():
        print("  MPO point  : " + json.dumps(describe(mpo_point(spec.name), compact=True)))
    else:
        print("  MPO point  : none (not expressible in the MPO family)")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from discovery.figures import plot_losses  # matplotlib only when plotting

    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise ValueError(f"--out: expected a .png file, got '{out}'")
    check_files([out], args.force)
    curves, mirrors = [], []
    for text in args.names:
        name, overrides = parse_loss_arg(text)
        if name == "mpo":
            raise ValueError("plot: 'mpo' is the family, not a loss; name a zoo loss (see `mpo losses list`)")
        spec = get_loss(name)
        curves.append((text, spec.fn, spec.params(**overrides)))
        if name in point_names():
            mirrors.append((text, mpo_point(name, **overrides)))
    plot_losses(curves, out, mirrors, tau=args.tau)
    print(f"wrote {out}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    losses = subparsers.add_parser("losses", help="the preference-loss library (zoo and MPO family)")
    sub = losses.add_subparsers(dest="losses_command", metavar="SUBCOMMAND")
    sub.required = True

    p = sub.add_parser("list", help="every loss: family, MPO point, hyperparameters, citation")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("show", help="one loss in full: formula, defaults and ranges, MPO point")
    p.add_argument("name", help="a loss name from `mpo losses list`, or 'mpo' for the family")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("plot", help="loss and -dL/drho along the margin, and mirror maps, as a PNG")
    p.add_argument("names", nargs="+", metavar="NAME[:key=value,...]",
                   help="losses to draw, optionally with hyperparameters, e.g. sigmoid:beta=0.5")
    p.add_argument("--out", required=True, help="output .png file")
    p.add_argument("--tau", type=float, default=0.0, help="training progress in [0, 1] (default 0)")
    add_force_flag(p, "overwrite --out if it exists (alias --overwrite)")
    p.set_defaults(func=cmd_plot)
