"""`mpo search`, `mpo eval`, `mpo plot`: run a discovery, compare losses, draw runs."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from discovery import run_dir as rd


def _setup_jax() -> None:
    from envs.jax_setup import enable_compilation_cache

    enable_compilation_cache()


def _start_distributed(args: argparse.Namespace) -> None:
    """Join a multi-process run before jax touches a device. With no address jax finds the cluster
    itself (SLURM, TPU pods, Open MPI); CPU processes talk through gloo."""
    import jax

    if not (args.out or args.resume):
        raise ValueError("--distributed: give --out (or --resume): every process must use the same run directory")
    if args.coordinator is not None and (args.num_processes is None or args.process_id is None):
        raise ValueError("--coordinator: also give --num-processes and --process-id")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(args.coordinator, args.num_processes, args.process_id)


def cmd_search(args: argparse.Namespace) -> int:
    from envs.jax_setup import use_cpu_devices

    use_cpu_devices(args.cpu_devices)  # first: importing the search stack starts jax's backend
    from discovery.config import load_config
    from discovery.search import run_search

    if args.distributed:
        _start_distributed(args)
    if args.resume:
        if args.config or args.set or args.out:
            raise ValueError("--resume: the run directory's own config is used; drop --config/--set/--out")
        out = Path(args.resume)
        cfg = None
    else:
        cfg = load_config(args.config or "quick", args.set or [])
        out = Path(args.out) if args.out else rd.default_run_dir(cfg["name"])
    _setup_jax()
    try:
        result = run_search(cfg, out, resume=bool(args.resume), quiet=args.quiet, report=not args.no_report)
    except KeyboardInterrupt:
        print(f"\ninterrupted; every finished generation is checkpointed: mpo search --resume {out}")
        return 130
    if not args.quiet:
        print(f"best fitness {result['best_fitness']:.2f} (generation {result['best_generation']}); run directory: {out}")
    return 0


def _entry(text: str):
    from discovery.cli_losses import parse_loss_arg
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

    if args.seeds < 2 or args.episodes < 1:
        raise ValueError(f"--seeds {args.seeds} / --episodes {args.episodes}: allowed --seeds >= 2 (for an interval), --episodes >= 1")
    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not args.force:
        raise FileExistsError(f"--out: {out} exists; pass --force to overwrite it")
    overrides = list(args.set or []) + [f"datasets={json.dumps(args.dataset)}"]
    cfg = load_config(args.config, overrides)
    entries = [_entry(t) for t in args.losses]
    _setup_jax()
    engine = build_engine(cfg)
    key = jax.random.key(args.seed)
    if not args.quiet:
        print(f"evaluating {len(entries)} losses + the reference policy: {args.seeds} seeds x "
              f"{args.episodes} episodes on {', '.join(args.dataset)} (inner: {cfg['inner']})")
    results = {"reference policy (no fine-tuning)": evaluate_reference(engine, args.seeds, args.episodes, key)}
    results.update(evaluate_entries(engine, entries, args.seeds, args.episodes, key))
    rows, md = table(results)
    print(md)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        header = f"# mpo eval\n\ndatasets: {', '.join(args.dataset)}; seeds {args.seeds}; episodes {args.episodes}\n\n"
        out.write_text(header + md + "\n")
        out.with_suffix(".json").write_text(json.dumps({"config": cfg, "rows": rows}, indent=2) + "\n")
        print(f"wrote {out} and {out.with_suffix('.json')}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from discovery.loading import load
    from discovery.plots import plot_fitness, plot_loss_shape

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
    p = subparsers.add_parser("search", help="evolve a preference loss (CMA-ES over the MPO family)")
    p.add_argument("--config", help="config file, or a name in experiments/configs: quick (default), paper")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config entry, e.g. --set strategy.population=16 (repeatable; JSON values)")
    p.add_argument("--out", help="run directory (default runs/NAME-DATE-TIME); must be new or empty")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted search from its last checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar or table")
    p.add_argument("--no-report", action="store_true", help="skip the final held-out report")
    p.add_argument("--cpu-devices", type=int, default=1, metavar="N",
                   help="split a CPU host into N jax devices the population is sharded over (default 1; "
                        "the population must be a multiple of N); faster on multi-core CPUs, see BENCHMARKS.md")
    p.add_argument("--distributed", action="store_true",
                   help="one of several processes (jax.distributed): the population is sharded over all their devices")
    p.add_argument("--coordinator", metavar="HOST:PORT", help="with --distributed: process 0's address (default: auto)")
    p.add_argument("--num-processes", type=int, help="with --coordinator: how many processes")
    p.add_argument("--process-id", type=int, help="with --coordinator: this process's rank")
    p.set_defaults(func=cmd_search)

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
    p.add_argument("--force", action="store_true", help="overwrite --out")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = subparsers.add_parser("plot", help="fitness curves of runs on one figure, and discovered loss shapes")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--out", help="output PNG (default RUN_DIR/fitness_curves.png of the first run)")
    p.add_argument("--force", action="store_true", help="overwrite --out")
    p.set_defaults(func=cmd_plot)
