"""`mpo data ...`: the MuJoCo diagnostic suite (tasks, experts, preference datasets) from the CLI."""
from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import time
from pathlib import Path

from discovery.outputs import add_force_flag, check_dir, check_files


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("data", help="MuJoCo diagnostic suite: tasks, experts, preference datasets")
    sub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    sub.required = True

    t = sub.add_parser("tasks", help="list the task registry; --measure measures random returns")
    t.add_argument("--task", action="append", help="task name (repeatable; default all)")
    t.add_argument("--measure", action="store_true", help="measure the random policy's return and save it")
    t.add_argument("--episodes", type=int, default=32)
    t.set_defaults(func=_cmd_tasks)

    e = sub.add_parser("experts", help="train brax PPO experts and save checkpoints at several quality levels")
    e.add_argument("--task", required=True)
    e.add_argument("--out", type=Path, default=None,
                   help="directory (default envs/data/TASK/experts; only the default updates the task's "
                        "measured expert return)")
    e.add_argument("--timesteps", type=int, default=None, help="PPO environment steps")
    e.add_argument("--num-evals", type=int, default=None)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--eval-episodes", type=int, default=16)
    add_force_flag(e, "replace existing expert checkpoints (alias --overwrite)")
    e.set_defaults(func=_cmd_experts)

    _register_datasets(sub)


def _setup_jax() -> None:
    from envs import runtime

    runtime.enable_compilation_cache()


def _command_line() -> str:
    return "mpo " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else "mpo"


def _cmd_tasks(args: argparse.Namespace) -> int:
    _setup_jax()
    import jax

    from envs.mujoco import rollout, tasks

    names = args.task or list(tasks.task_names())
    for n in names:
        spec = tasks.get_task(n)
        if args.measure:
            t0 = time.time()
            r = rollout.measure_random_return(n, jax.random.PRNGKey(12345), args.episodes, spec.episode_length)
            tasks.update_measured(n, {
                "random_return": r,
                "random_episodes": args.episodes,
                "episode_length": spec.episode_length,
                "random_command": _command_line(),
                "random_wall_time_s": round(time.time() - t0, 1),
            })
        m = tasks.load_measured().get(n, {})
        rr = m.get("random_return")
        er = m.get("expert_return")
        print(f"{n:12s} backend={spec.backend} episode_length={spec.episode_length} obs={spec.obs_size} "
              f"act={spec.action_size} dt={spec.dt:.4f} random_return="
              f"{'n/a' if rr is None else f'{rr:.1f}'} expert_return={'n/a' if er is None else f'{er:.1f}'}")
    return 0


def _cmd_experts(args: argparse.Namespace) -> int:
    _setup_jax()
    from tqdm import tqdm

    from envs.mujoco import experts, tasks

    tasks.get_task(args.task)
    cfg = experts.PPOConfig(seed=args.seed)
    if args.timesteps is not None:
        cfg = dataclasses.replace(cfg, num_timesteps=args.timesteps)
    if args.num_evals is not None:
        cfg = dataclasses.replace(cfg, num_evals=args.num_evals)
    out = args.out or tasks.DATA_DIR / args.task / "experts"
    # a file or an unwritable parent, refused before training; existing checkpoints: train_experts refuses them
    check_dir(out, force=True)
    bar = tqdm(total=cfg.num_timesteps, unit="step", unit_scale=True, desc=f"PPO {args.task}",
               file=sys.stderr, dynamic_ncols=True)

    def progress(step: int, ret: float, elapsed: float) -> None:
        bar.update(max(0, min(step, cfg.num_timesteps) - bar.n))
        bar.set_postfix(eval_return=f"{ret:.1f}", elapsed=f"{elapsed:.0f}s")

    t0 = time.time()
    meta = experts.train_experts(args.task, out, cfg, progress=progress, eval_episodes=args.eval_episodes,
                                 overwrite=args.force, record_measured=args.out is None)
    bar.close()
    wall = time.time() - t0
    experts.annotate(out, {"command": _command_line(), "wall_time_s": round(wall, 1)})
    print(f"experts for {args.task} saved to {out} ({wall:.0f} s)")
    for lv in meta["levels"]:
        print(f"  {lv['name']:5s} step={lv['step']:>9d} return={lv['return_stochastic']:8.1f} "
              f"(deterministic {lv['return_deterministic']:.1f}) pct_of_best={lv['pct_of_best']:.0f}")
    return 0


def _register_datasets(sub: argparse._SubParsersAction) -> None:
    from discovery.suite.settings import SUITE
    from envs.mujoco.settings import setting_names
    from envs.text.settings import setting_names as text_setting_names

    m = sub.add_parser("make", help="generate a preference dataset with its reference policy")
    m.add_argument("--task", required=True, help="a MuJoCo task, or 'text' for the synthetic text domain")
    m.add_argument("--setting", required=True, help=f"MuJoCo: {', '.join(setting_names())}; "
                                                    f"text: {', '.join(text_setting_names())}")
    m.add_argument("--out", type=Path, required=True, help="new dataset directory")
    m.add_argument("--experts", type=Path, default=None, help="experts directory (default envs/data/TASK/experts)")
    m.add_argument("--seed", type=int, default=None)
    m.add_argument("--n-pairs", type=int, default=None)
    m.add_argument("--horizon", type=int, default=None, help="response length H in env steps")
    m.add_argument("--bins", type=int, default=None, help="K action-token bins per action dimension")
    m.add_argument("--temperature", type=float, default=None, help="Bradley-Terry temperature (0 = deterministic)")
    m.add_argument("--eps", type=float, default=None, help="label flip probability")
    m.add_argument("--label-value", default=None, choices=("segment", "return-to-go"),
                   help="what a label compares: the segment return, or segment return + MC continuation value")
    m.add_argument("--value-level", default=None, help="expert level that continues for return-to-go values")
    m.add_argument("--value-horizon", type=int, default=None,
                   help="continuation steps after the segment (0 = to the episode end)")
    m.add_argument("--value-samples", type=int, default=None, help="MC continuation rollouts per response")
    m.add_argument("--prompt-level", default=None, help="expert level whose trajectories give the prompts")
    m.add_argument("--response-levels", default=None, help="comma-separated expert levels of the responses")
    m.add_argument("--episode-length", type=int, default=None)
    m.add_argument("--sft-episodes", type=int, default=None)
    m.add_argument("--bc-steps", type=int, default=None)
    m.add_argument("--eval-episodes", type=int, default=None)
    m.add_argument("--length-bias", type=float, default=None,
                   help="text only: the labeller sees r* + LENGTH_BIAS * len(y)")
    m.add_argument("--sft-steps", type=int, default=None, help="text only: SFT training steps")
    add_force_flag(m, "replace an existing dataset at --out (alias --overwrite)")
    m.set_defaults(func=_cmd_make)

    s = sub.add_parser("show", help="validate a dataset and summarize it (text and a PNG)")
    s.add_argument("dir", type=Path)
    s.add_argument("--png", type=Path, default=None, help="PNG path (default DIR/show.png)")
    add_force_flag(s, "overwrite an existing --png (alias --overwrite)")
    s.set_defaults(func=_cmd_show)

    q = sub.add_parser("suite", help="the suite table: tuned zoo losses vs the reference and tuned DPO, per setting")
    q.add_argument("--task", action="append", help="MuJoCo task (repeatable; default hopper)")
    q.add_argument("--settings", default=",".join(SUITE),
                   help="comma-separated (default: %(default)s; flips-EPS: clean's data, every inner run "
                        "flipping its own labels; any named setting, e.g. noisy-0.3, one flip realization)")
    q.add_argument("--data-root", type=Path, default=None, help="datasets at ROOT/TASK/SETTING (default envs/data)")
    q.add_argument("--out", type=Path, default=Path("experiments/reports/suite.md"),
                   help="report (default %(default)s; .json and .png beside it)")
    q.add_argument("--cache", type=Path, default=None,
                   help="per-setting results, reused on a rerun (default: OUT's stem + '_runs' beside it)")
    q.add_argument("--panel", default=None, help="comma-separated zoo losses (default: the suite's panel)")
    q.add_argument("--beta-scales", default=None, help="comma-separated multiples of each loss's default beta")
    q.add_argument("--lrs", default=None, help="comma-separated learning rates")
    for flag in ("validation-seeds", "test-seeds", "episodes", "steps", "batch-size", "chunk", "seed"):
        q.add_argument(f"--{flag}", type=int, default=None)
    q.add_argument("--confirm-cells", type=int, default=None,
                   help="a second look: each loss's N best cells on the validation seeds are scored again on "
                        "--confirm-seeds validation seeds in all and chosen by that mean (default 0: none)")
    q.add_argument("--confirm-seeds", type=int, default=None, help="validation seeds of the second look (default 12)")
    q.add_argument("--task-steps", action="append", default=[], metavar="TASK=N",
                   help="a task's own inner-run steps, e.g. walker2d=800 (repeatable; default: --steps for all)")
    q.add_argument("--task-confirm-cells", action="append", default=[], metavar="TASK=N",
                   help="a task's own --confirm-cells, e.g. hopper=2 (repeatable)")
    q.add_argument("--cached-only", action="store_true",
                   help="compute nothing: report the settings cached under this plan, list the others as not run")
    q.add_argument("--intro", type=Path, default=None, help="markdown placed after the report's header")
    q.add_argument("--skip-missing", action="store_true",
                   help="list settings whose dataset is not made as 'not run' in the report instead of failing")
    add_force_flag(q, "overwrite an existing report, its .json and .png (cached settings are reused; alias --overwrite)")
    q.set_defaults(func=_cmd_suite)


TEXT_ONLY = ("length_bias", "sft_steps")
MUJOCO_ONLY = ("experts", "horizon", "bins", "episode_length", "sft_episodes", "bc_steps", "eval_episodes",
               "label_value", "value_level", "value_horizon", "value_samples", "prompt_level", "response_levels")


def _refuse(args: argparse.Namespace, names: tuple[str, ...], task: str) -> None:
    given = [n for n in names if getattr(args, n) is not None]
    if given:
        flags = ", ".join("--" + n.replace("_", "-") for n in given)
        raise ValueError(f"{flags}: not an option of --task {task}")


def _cmd_make_text(args: argparse.Namespace) -> int:
    from envs.text.settings import make_config

    _refuse(args, MUJOCO_ONLY, "text")
    check_dir(args.out, args.force)  # before any work (the builder refuses again, as a library call)
    cfg = make_config(args.setting, seed=args.seed, n_pairs=args.n_pairs, bt_temperature=args.temperature,
                      flip_eps=args.eps, length_bias=args.length_bias, sft_steps=args.sft_steps)
    _setup_jax()
    from envs import dataset_report
    from envs.text.build import build_text_dataset

    t0 = time.time()
    ds = build_text_dataset(
        cfg, args.out, overwrite=args.force,
        log=lambda msg: print(f"[{time.time() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True),
        provenance={"command": _command_line()},
    )
    print(dataset_report.summary_text(ds))
    return 0


def _cmd_make(args: argparse.Namespace) -> int:
    from envs.mujoco.settings import make_config

    if args.task == "text":
        return _cmd_make_text(args)
    _refuse(args, TEXT_ONLY, args.task)
    check_dir(args.out, args.force)  # before any work (the builder refuses again, as a library call)

    cfg = make_config(
        args.task, args.setting, seed=args.seed, n_pairs=args.n_pairs, horizon=args.horizon, n_bins=args.bins,
        bt_temperature=args.temperature, flip_eps=args.eps, episode_length=args.episode_length,
        sft_episodes=args.sft_episodes, bc_steps=args.bc_steps, eval_episodes=args.eval_episodes,
        label_value=args.label_value, value_level=args.value_level, value_horizon=args.value_horizon,
        value_samples=args.value_samples, prompt_level=args.prompt_level,
        response_levels=tuple(x.strip() for x in args.response_levels.split(",")) if args.response_levels else None,
    )
    _setup_jax()
    from envs import dataset_report
    from envs.mujoco import build

    t0 = time.time()
    ds = build.build_dataset(
        cfg, args.out, experts_dir=args.experts, overwrite=args.force,
        log=lambda msg: print(f"[{time.time() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True),
        provenance={"command": _command_line()},
    )
    print(dataset_report.summary_text(ds))
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from envs import dataset_io, dataset_report

    png = args.png or Path(args.dir) / "show.png"
    check_files([png], args.force, flag="--png")
    ds = dataset_io.load_dataset(args.dir)
    print(dataset_report.summary_text(ds))
    png = dataset_report.save_png(ds, png)
    print(f"plot         {png}")
    return 0


def _cmd_suite(args: argparse.Namespace) -> int:
    from discovery.suite.plan import suite_plan

    floats = lambda text: tuple(float(x) for x in text.split(","))  # noqa: E731
    fields = {"panel": tuple(args.panel.split(",")) if args.panel else None,
              "beta_scales": floats(args.beta_scales) if args.beta_scales else None,
              "learning_rates": floats(args.lrs) if args.lrs else None,
              **{k: getattr(args, k) for k in ("validation_seeds", "test_seeds", "episodes", "steps", "batch_size",
                                               "chunk", "seed", "confirm_cells", "confirm_seeds")}}
    fields = {k: v for k, v in fields.items() if v is not None}
    plan = suite_plan(**fields)
    from envs.mujoco import tasks
    from envs.mujoco.settings import setting_names

    for t in args.task or ["hopper"]:
        tasks.get_task(t)  # unknown tasks: one error naming the known ones
    own: dict[str, dict[str, int]] = {}  # a task's own plan fields
    for flag, field in (("--task-steps", "steps"), ("--task-confirm-cells", "confirm_cells")):
        for item in getattr(args, flag[2:].replace("-", "_")):
            task, _, n = item.partition("=")
            if task not in (args.task or ["hopper"]) or not n.strip().isdigit():
                raise ValueError(f"{flag}: got {item!r}; allowed: TASK=N with TASK one of the --task values "
                                 f"({', '.join(args.task or ['hopper'])}) and N an integer")  # its range: suite_plan
            own.setdefault(task, {})[field] = int(n)
    task_plans = {task: suite_plan(**{**fields, **f}) for task, f in own.items()}
    from discovery.suite.settings import RESAMPLED, setting_source

    allowed = (*setting_names(), *RESAMPLED)
    bad = [s for s in args.settings.split(",") if s not in allowed]
    if bad:
        raise ValueError(f"--settings: unknown setting(s) {', '.join(bad)}; allowed: {', '.join(allowed)}")
    out: Path = args.out
    # the report, its .json and its figure; cached settings are reused whatever the flag
    check_files([out, out.with_suffix(".json"), out.with_suffix(".png")], args.force)
    root = args.data_root or tasks.DATA_DIR
    # a RESAMPLED setting (flips-EPS) trains on clean's dataset, each inner run flipping its own labels
    specs = [(t, s, root / t / setting_source(s)[0]) for t in (args.task or ["hopper"]) for s in args.settings.split(",")]
    missing = [(t, s, d) for t, s, d in specs if not (d / "manifest.json").exists()]
    if missing and args.skip_missing and not args.cached_only:
        specs = [spec for spec in specs if spec not in missing]
    if missing and args.cached_only:
        print("not on this machine, reported from the cache where it holds a result under this plan: "
              + ", ".join(f"{t}/{s}" for t, s, _ in missing))
    _setup_jax()
    from discovery.suite.run import run_suite, write_report

    cache = args.cache or out.with_name(out.stem + "_runs")
    t0 = time.time()
    results = run_suite(specs, plan, cache, log=lambda msg: print(f"[{time.time() - t0:7.1f}s] {msg}", flush=True),
                        task_plans=task_plans, compute=not args.cached_only)
    done = {(t, s) for t, res in results.items() for s in res}
    not_run = [f"{t}/{s} (no dataset at {tasks.repo_relative(d)})" for t, s, d in missing
               if (t, s) not in done] if args.skip_missing or args.cached_only else []
    not_run += [f"{t}/{s} (no result under this plan in {cache} yet)" for t, s, d in specs
                if (t, s) not in done and (t, s, d) not in missing]
    if not results:  # nothing to report (--cached-only on an empty cache, or every dataset missing): keep old files
        raise ValueError(f"suite: nothing to report, {out} not written; not run: " + "; ".join(not_run))
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = write_report(results, plan, out, _command_line(), args.intro.read_text() if args.intro else "", not_run,
                           task_plans)
    for c in summary["claims"]:
        print(f"{c['task']}: {'holds' if c['holds'] else 'DOES NOT HOLD'}: {c['claim']} -- {c['measured']}")
    print(f"wrote {out}, {out.with_suffix('.json')} and {out.with_suffix('.png')}")
    return 0
