"""Worker of `mpo bench --cpu-devices N`: the population sharded over N CPU devices, timed in this process
(jax fixes the device count when it starts). Prints {P: {"s", "compile_s"}} as JSON on its last line."""
from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True)
    p.add_argument("--devices", type=int, required=True)
    p.add_argument("--sizes", required=True)
    p.add_argument("--chunk", type=int, required=True)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    from envs.runtime import enable_compilation_cache, use_cpu_devices

    use_cpu_devices(args.devices)
    enable_compilation_cache()
    from discovery.bench.measure import BenchPlan, setup, time_population
    from discovery.population import population_mesh

    sizes = tuple(int(x) for x in args.sizes.split(","))
    plan = BenchPlan(configs=(args.config,), sizes=sizes, chunk=args.chunk, repeats=args.repeats, seed=args.seed)
    st = setup(args.config, plan)
    mesh = population_mesh()
    out = {}
    for size in sizes:
        xs = st["population"](size)  # drawn for every size, as the parent does, so candidates match
        if size % args.devices:
            continue
        share = size // args.devices
        chunk = args.chunk if args.chunk < share else 0
        t = time_population(st["stages"], st["engine"].space, xs, st["key"], chunk, args.repeats, mesh)
        out[size] = {"s": t["s"], "compile_s": t["compile_s"]}
        print(f"  {args.config} P={size} sharded over {args.devices} devices: {t['s']:.2f}s", file=sys.stderr, flush=True)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
