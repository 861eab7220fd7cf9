"""A short search on the tiny fixture, in its own process: `python -m tests.sharded_search OUT [options]`.

Used by the sharding tests, which need XLA flags (simulated devices) or jax.distributed set before jax
starts; prints {"devices", "processes", "best_vector", "log"} as JSON on the last line of stdout.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

TINY_DATA = Path(__file__).resolve().parent / "data" / "tiny_hopper_clean"
# The same search as tests/discovery/test_engine.py, so the one-device run finds its program in the compilation cache.
TINY = [f'datasets=["{TINY_DATA}"]', "generations=4", "strategy.population=4", "seeds=1", "inner.steps=4",
        "inner.batch_size=4", "eval.episodes=1", "eval.episode_length=8", "strategy.sigma=0.2",
        "select.top_k=0"]  # the final selection's program has a test of its own (test_select.py)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--coordinator", help="host:port of process 0 (starts jax.distributed)")
    ap.add_argument("--num-processes", type=int, default=1)
    ap.add_argument("--process-id", type=int, default=0)
    args = ap.parse_args(argv)

    import jax

    if args.coordinator:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    from discovery import run_dir as rd
    from discovery.config import load_config
    from discovery.search import run_search
    from envs import runtime

    runtime.enable_compilation_cache()
    cfg = load_config(None, TINY + args.set)
    result = run_search(cfg, Path(args.out), quiet=True, report=False)
    best = json.loads((Path(args.out) / "best.json").read_text()) if jax.process_index() == 0 else None
    print(json.dumps({"devices": jax.device_count(), "processes": jax.process_count(),
                      "best_fitness": result["best_fitness"],
                      "best_vector": None if best is None else best["vector"],
                      "log": rd.without_timing(result["log"])}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
