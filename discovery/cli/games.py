"""`mpo games`: preference games and Magnetic PO against its baselines, measured by the duality gap."""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
from tqdm import tqdm

from discovery import strict_json
from discovery.magnetic.exact import (
    ALGORITHM_HELP,
    ALGORITHMS,
    ExactConfig,
    parse_algorithms,
    run_exact,
)
from discovery.magnetic.report import checkpoints_for, dg_table, plot_dg_curves
from discovery.magnetic.sampled import SAMPLED_ALGORITHMS, SampledConfig, run_sampled
from discovery.outputs import add_force_flag, check_dir, write_text
from envs.games import GAME_FAMILIES, make_games, nash_lp
from envs.runtime import versions


def register(subparsers: argparse._SubParsersAction) -> None:
    games = subparsers.add_parser("games", help="preference games: Magnetic PO vs self-play baselines")
    sub = games.add_subparsers(dest="games_command", metavar="SUBCOMMAND")
    sub.required = True

    ls = sub.add_parser("list", help="list game families and algorithms")
    ls.set_defaults(func=cmd_list)

    run = sub.add_parser("run", help="run algorithms on a game family; write DG curves (PNG) and a table")
    run.add_argument("--game", default="cyclic", help=f"game family: {', '.join(GAME_FAMILIES)}")
    run.add_argument("--algos", default="mpo,md,md-avg,nash-md",
                     help=f"comma list of {', '.join(ALGORITHMS)}, or 'all'")
    run.add_argument("--out", required=True, type=Path, help="output directory")
    run.add_argument("--n", type=int, default=5, help="responses per context")
    run.add_argument("--contexts", type=int, default=1)
    run.add_argument("--games", type=int, default=4, help="games drawn from the family")
    run.add_argument("--seeds", type=int, default=3, help="seeds 0..SEEDS-1 (reference policy per seed)")
    run.add_argument("--game-seed", type=int, default=0)
    run.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                     help="game family parameter, repeatable (e.g. cyclic: margin, spread; skew: scale)")
    defaults = ExactConfig()
    run.add_argument("--steps", type=int, default=defaults.steps)
    run.add_argument("--eta", type=float, default=defaults.eta)
    run.add_argument("--tau", type=float, default=defaults.tau)
    run.add_argument("--magnet-period", type=int, default=defaults.magnet_period)
    run.add_argument("--init-spread", type=float, default=defaults.init_spread)
    run.add_argument("--checkpoints", default="", help="comma list of iterations for the table "
                     "(default 1, 3, 10, ..., steps)")
    run.add_argument("--sampled", action="store_true",
                     help=f"also train the sampled policy-network learners ({', '.join(SAMPLED_ALGORITHMS)})")
    run.add_argument("--sampled-iterations", type=int, default=SampledConfig().iterations)
    add_force_flag(run, "write into a non-empty --out (alias --overwrite)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=cmd_run)


def cmd_list(args: argparse.Namespace) -> int:
    print("game families: " + ", ".join(GAME_FAMILIES))
    for name, text in ALGORITHM_HELP.items():
        print(f"  {name:<11} {text}")
    return 0


def _checkpoints(spec: str, steps: int) -> list[int]:
    if not spec.strip():
        return checkpoints_for(steps)
    try:
        marks = sorted({int(c) for c in spec.split(",") if c.strip()})
    except ValueError as err:
        raise ValueError(f"checkpoints must be a comma list of integers in [0, {steps}]; got {spec!r}") from err
    if not marks or marks[0] < 0 or marks[-1] > steps:
        raise ValueError(f"checkpoints must be a comma list of integers in [0, {steps}]; got {spec!r}")
    return marks


def game_params(specs: list[str]) -> dict[str, float]:
    """Parse repeated KEY=VALUE game parameters; make_games checks the keys against the family."""
    params: dict[str, float] = {}
    for spec in specs:
        key, sep, value = spec.partition("=")
        try:
            params[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise ValueError(f"param must be KEY=VALUE with a numeric VALUE; got {spec!r}")
    return params


def _prepare_out(out: Path, force: bool) -> None:
    check_dir(out, force)  # a file, a read-only parent or a non-empty directory: refused before any work
    out.mkdir(parents=True, exist_ok=True)


def cmd_run(args: argparse.Namespace) -> int:
    if args.game not in GAME_FAMILIES:
        raise ValueError(f"game must be one of {', '.join(GAME_FAMILIES)}; got {args.game!r}")
    algos = parse_algorithms(args.algos)
    if args.seeds < 1:
        raise ValueError(f"seeds must be >= 1; got {args.seeds}")
    cfg = ExactConfig(steps=args.steps, eta=args.eta, tau=args.tau, magnet_period=args.magnet_period,
                      init_spread=args.init_spread)
    scfg = SampledConfig(iterations=args.sampled_iterations, init_spread=args.init_spread)
    marks = _checkpoints(args.checkpoints, cfg.steps)
    params = game_params(args.param)
    games = make_games(args.game, args.games, args.n, args.contexts, seed=args.game_seed, **params)
    _prepare_out(args.out, args.force)
    seeds = list(range(args.seeds))

    jobs = [("exact", a) for a in algos] + ([("sampled", a) for a in SAMPLED_ALGORITHMS] if args.sampled else [])
    curves: dict[str, np.ndarray] = {}
    sampled: dict[str, np.ndarray] = {}
    for kind, name in tqdm(jobs, desc=f"games {args.game}", disable=args.quiet, unit="algo"):
        if kind == "exact":
            curves[name] = run_exact(name, games, seeds, cfg)[0]
        else:
            sampled[f"sampled-{name}"] = run_sampled(name, games, seeds, scfg)

    title = f"{args.game}: {args.games} games x {args.seeds} seeds, n={args.n}, contexts={args.contexts}"
    plot_dg_curves(curves, args.out / "dg_curves.png", title)
    table = dg_table(curves, marks)
    text = f"# Duality gap, {title}\n\nMean last-iterate DG ± 95% interval over games x seeds.\n\n{table}\n"
    if sampled:
        x_scale = scfg.pairs_per_iteration
        smarks = _checkpoints("", scfg.iterations)
        plot_dg_curves(sampled, args.out / "dg_curves_sampled.png", title + " (sampled)",
                       x_label="labelled pairs per context", x_scale=x_scale)
        text += (f"\n## Sampled learners ({x_scale} labelled pairs per context per iteration)\n\n"
                 + dg_table(sampled, smarks) + "\n")
    write_text(args.out / "dg_table.md", text)
    ne = np.stack([nash_lp(P) for P in games])
    np.savez_compressed(args.out / "dg_curves.npz", games=games, nash=ne, seeds=np.asarray(seeds),
                        **{f"exact/{k}": v for k, v in curves.items()}, **{k: v for k, v in sampled.items()})
    config = {"game": args.game, "game_params": params, "n": args.n, "contexts": args.contexts, "games": args.games,
              "game_seed": args.game_seed, "seeds": seeds, "algos": algos, "checkpoints": marks,
              "exact": dataclasses.asdict(cfg), "sampled": dataclasses.asdict(scfg) if sampled else None,
              "versions": versions()}
    strict_json.write(args.out / "config.json", config)
    print(text, end="")
    print(f"wrote {args.out}/dg_curves.png, dg_table.md, dg_curves.npz, config.json")
    return 0
