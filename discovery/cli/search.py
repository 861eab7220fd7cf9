"""`mpo search`: run (or resume) a discovery; one process, or one of several (jax.distributed)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from discovery import run_dir as rd
from discovery.fingerprint import SAFE_KEYS


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
    from envs.runtime import enable_compilation_cache, use_cpu_devices

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
    elif args.allow_config_change:
        raise ValueError("--allow-config-change: only with --resume (it accepts an edited config.json's KEY)")
    else:
        cfg = load_config(args.config or "quick", args.set or [])
        out = Path(args.out) if args.out else rd.default_run_dir(cfg["name"])
    enable_compilation_cache()
    try:
        result = run_search(cfg, out, resume=bool(args.resume), quiet=args.quiet, report=not args.no_report,
                            trackers=args.log or (), allow_config_change=args.allow_config_change or ())
    except KeyboardInterrupt:
        from discovery.cli import INTERRUPTED
        from discovery.resume import interrupted_hint

        print(f"\nmpo: {interrupted_hint(out)}", file=sys.stderr)
        return INTERRUPTED
    if not args.quiet:
        print(f"best fitness {result['best_fitness']:.2f} (generation {result['best_generation']}); run directory: {out}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("search", help="evolve a preference loss (CMA-ES over the MPO family)")
    p.add_argument("--config", help="config file, or a name in experiments/configs: quick (default), paper")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config entry, e.g. --set strategy.population=16 (repeatable; JSON values)")
    p.add_argument("--out", help="run directory (default runs/NAME-DATE-TIME); must be new or empty")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted search from its last checkpoint")
    p.add_argument("--allow-config-change", nargs="+", metavar="KEY",
                   help="with --resume: accept these keys of an edited config.json (only keys the search does not "
                        f"depend on: {', '.join(SAFE_KEYS)}); any other change, or a changed dataset, is refused")
    p.add_argument("--quiet", action="store_true", help="no progress bar or table")
    p.add_argument("--no-report", action="store_true", help="skip the final test-seed report")
    p.add_argument("--log", action="append", choices=("tensorboard", "wandb"),
                   help="also log every generation to TensorBoard (RUN_DIR/tensorboard) or Weights & Biases "
                        "(when installed); repeatable; log.jsonl stays the source of truth")
    p.add_argument("--cpu-devices", type=int, default=1, metavar="N",
                   help="split a CPU host into N jax devices the population is sharded over (default 1; "
                        "the population must be a multiple of N); faster on multi-core CPUs, see BENCHMARKS.md")
    p.add_argument("--distributed", action="store_true",
                   help="one of several processes (jax.distributed): the population is sharded over all their devices")
    p.add_argument("--coordinator", metavar="HOST:PORT", help="with --distributed: process 0's address (default: auto)")
    p.add_argument("--num-processes", type=int, help="with --coordinator: how many processes")
    p.add_argument("--process-id", type=int, help="with --coordinator: this process's rank")
    p.set_defaults(func=cmd_search)
