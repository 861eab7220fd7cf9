"""`mpo eval`: compare losses (zoo names or finished runs) on datasets, paired on evaluation keys."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from discovery import strict_json
from discovery.outputs import add_force_flag, check_files, write_text


def _entry(text: str):
    from discovery.cli.losses import parse_loss_arg
    from discovery.loading import load
    from search_spaces.mpo import mpo_loss
    from search_spaces.points import mpo_point, point_names
    from search_spaces.registry import get_loss

    path = Path(text)
    if path.is_dir() or path.name == "best.json":
        loaded = load(path)
        return (f"{path.name} (discovered)", mpo_loss, loaded.params)
    name, overrides = parse_loss_arg(text)
    if name in point_names():
        return (text, mpo_loss, mpo_point(name, **overrides))
    spec = get_loss(name)
    return (text, spec.fn, spec.params(**overrides))


def cmd_eval(args: argparse.Namespace) -> int:
    import jax

    from discovery.config import load_config
    from discovery.engine import build_engine
    from discovery.report import evaluate_entries, evaluate_reference, table
    from envs.runtime import enable_compilation_cache

    if args.seeds < 2 or args.episodes < 1:
        raise ValueError(f"--seeds {args.seeds} / --episodes {args.episodes}: allowed --seeds >= 2 (for an interval), --episodes >= 1")
    out = Path(args.out) if args.out else None
    if out is not None:  # the table and the .json beside it, both checked before any work
        check_files([out, out.with_suffix(".json")], args.force)
    overrides = list(args.set or []) + [f"datasets={json.dumps(args.dataset)}"]
    cfg = load_config(args.config, overrides)
    entries = [_entry(t) for t in args.losses]
    enable_compilation_cache()
    engine = build_engine(cfg)
    key = jax.random.key(args.seed)
    if not args.quiet:
        print(f"evaluating {len(entries)} losses + the reference policy: {args.seeds} seeds x "
              f"{args.episodes} episodes on {', '.join(args.dataset)} (inner: {cfg['inner']})")
    results = {"reference policy (no fine-tuning)": evaluate_reference(engine, args.seeds, args.episodes, key)}
    results.update(evaluate_entries(engine, entries, args.seeds, args.episodes, key))
    rows, md = table(results, paired_with=("reference policy (no fine-tuning)",))
    print(md)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        header = f"# mpo eval\n\ndatasets: {', '.join(args.dataset)}; seeds {args.seeds}; episodes {args.episodes}\n\n"
        write_text(out, header + md + "\n")
        strict_json.write(out.with_suffix(".json"), {"config": cfg, "rows": rows})
        print(f"wrote {out} and {out.with_suffix('.json')}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("eval", help="compare losses (zoo names or run directories) on a dataset")
    p.add_argument("losses", nargs="+", metavar="LOSS_OR_RUN",
                   help="zoo loss (NAME[:k=v,...]) or a finished run directory")
    p.add_argument("--dataset", action="append", required=True, help="dataset directory (repeatable)")
    p.add_argument("--config", default="quick", help="config for the inner run (default: quick)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config entry")
    p.add_argument("--seeds", type=int, default=4, help="evaluation seeds (default 4)")
    p.add_argument("--episodes", type=int, default=4, help="evaluation episodes per seed (default 4)")
    p.add_argument("--seed", type=int, default=12345, help="root seed of the evaluation (default 12345)")
    p.add_argument("--out", help="save the table (markdown) and a .json beside it")
    add_force_flag(p, "overwrite --out and its .json (alias --overwrite)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_eval)
