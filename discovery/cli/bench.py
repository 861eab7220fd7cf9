"""`mpo bench`: the population engine's speed on this machine -> BENCHMARKS.md (+ .json)."""
from __future__ import annotations

import argparse
import os
import shlex
import time
from pathlib import Path

from discovery import strict_json
from discovery.outputs import add_force_flag, check_files, write_text


def _ints(text: str, flag: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ValueError(f"{flag}: expected a comma list of integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise ValueError(f"{flag}: expected integers >= 1, got {text!r}")
    return values


def cmd_bench(args: argparse.Namespace) -> int:
    from discovery.bench.measure import BenchPlan, run_bench
    from discovery.bench.report import render
    from envs import runtime

    out = Path(args.out)
    check_files([out, out.with_suffix(".json")], args.force)  # the report and its .json
    if args.chunk < 1:
        raise ValueError(f"--chunk: expected an integer >= 1, got {args.chunk}")
    runtime.check_cpu_devices(args.cpu_devices)  # here: the devices are split in the child process
    runtime.enable_compilation_cache()
    import jax

    if args.cpu_devices > 1 and jax.default_backend() != "cpu":
        print(f"--cpu-devices {args.cpu_devices}: ignored, the devices here are {jax.default_backend()} ones")
        args.cpu_devices = 1
    plan = BenchPlan(configs=tuple(x.strip() for x in args.configs.split(",") if x.strip()),
                     sizes=_ints(args.sizes, "--sizes"), chunk=args.chunk, repeats=args.repeats,
                     loop_max=_ints(str(args.loop_max), "--loop-max")[0], cpu_devices=args.cpu_devices)
    t0 = time.perf_counter()
    results = run_bench(plan)
    wall = time.perf_counter() - t0
    # rebuilt from the parsed flags (sys.argv is the caller's when main() runs in-process)
    command = "mpo bench " + " ".join(shlex.quote(a) for a in (
        "--configs", ",".join(plan.configs), "--sizes", ",".join(map(str, plan.sizes)), "--chunk", str(plan.chunk),
        "--repeats", str(plan.repeats), "--loop-max", str(plan.loop_max), "--cpu-devices", str(plan.cpu_devices),
        "--out", str(out))) + (" --force" if args.force else "")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out, render(results, command, wall))
    strict_json.write(out.with_suffix(".json"), results)
    print(f"wrote {out} and {out.with_suffix('.json')} ({wall / 60:.1f} min)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure the population engine: vmap vs loop, FLOP/s, MJX vs MuJoCo C, memory")
    p.add_argument("--configs", default="quick,probe,mid", help="comma list of: quick, probe, mid")
    p.add_argument("--sizes", default="1,8,32,64,128", help="population sizes P")
    p.add_argument("--chunk", type=int, default=8, help="candidates trained at a time in the chunked variant")
    p.add_argument("--repeats", type=int, default=2, help="timed calls per measurement (minimum kept)")
    p.add_argument("--loop-max", type=int, default=128,
                   help="largest P whose Python loop is run in full; larger ones are extrapolated (marked est.)")
    p.add_argument("--cpu-devices", type=int, default=os.cpu_count() or 1, metavar="N",
                   help="also time the population sharded over N CPU devices, in a child process "
                        "(default: one per core; 1 = skip)")
    p.add_argument("--out", default="BENCHMARKS.md")
    add_force_flag(p, "replace an existing --out and its .json (alias --overwrite)")
    p.set_defaults(func=cmd_bench)
