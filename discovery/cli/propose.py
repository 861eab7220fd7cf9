"""`mpo propose`: LLM-driven (or symbolic, or replayed) loss discovery, the DiscoPOP loop on the MJX evaluator."""
from __future__ import annotations

import argparse
import os
from pathlib import Path


def cmd_propose(args: argparse.Namespace) -> int:
    from discovery import run_dir as rd
    from discovery.config import parse_override
    from discovery.proposers.loop import run_propose
    from envs.runtime import enable_compilation_cache

    if args.resume:
        given = [f for f in ("proposer", "dataset", "generations", "population", "replay", "set") if getattr(args, f)]
        if given or args.out:
            raise ValueError(f"--resume: the run directory's own config is used; drop --{', --'.join(given or ['out'])}")
        out, cfg = Path(args.resume), None
    else:
        cfg: dict = {"proposer": args.proposer or "symbolic"}
        if args.dataset:
            cfg["datasets"] = args.dataset
        for key in ("generations", "population", "seeds"):
            if getattr(args, key) is not None:
                cfg[key] = getattr(args, key)
        if args.replay:
            cfg["replay"] = args.replay
        if cfg["proposer"] == "openai":
            cfg["openai"] = {"base_url": args.base_url or os.environ.get("OPENAI_BASE_URL"),
                             "model": args.model or os.environ.get("OPENAI_MODEL"),
                             "temperature": 0.8, "timeout_s": args.timeout}
        for text in args.set or []:
            keys, value = parse_override(text)
            node = cfg
            for k in keys[:-1]:
                node = node.setdefault(k, {})
            node[keys[-1]] = value
        out = Path(args.out) if args.out else rd.default_run_dir(f"propose-{cfg['proposer']}")
    enable_compilation_cache()
    key = args.api_key if args.api_key is not None else os.environ.get("OPENAI_API_KEY")
    try:
        result = run_propose(cfg, out, resume=bool(args.resume), quiet=args.quiet, report=not args.no_report,
                             api_key=key, stop_after=args.stop_after)
    except KeyboardInterrupt:
        print(f"\ninterrupted; every finished generation is in the archive: mpo propose --resume {out}")
        return 130
    if not args.quiet:
        print(f"archive: {len(result['archive'])} proposals in {out / 'archive.jsonl'}"
              + (f"; report: {out / 'report.md'}" if "report" in result else ""))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("propose", help="discover a loss by proposing code (LLM, symbolic or replayed), DiscoPOP-style")
    p.add_argument("--proposer", choices=("symbolic", "openai", "replay"), help="who proposes (default symbolic: no LLM needed)")
    p.add_argument("--dataset", nargs="+", metavar="D", help="dataset directories (default envs/data/hopper/noisy-0.3)")
    p.add_argument("--generations", type=int, help="generations, generation 0 being the seed archive (default 20)")
    p.add_argument("--population", type=int, help="proposals per generation (default 6)")
    p.add_argument("--seeds", type=int, help="inner seeds per proposal (default 2)")
    p.add_argument("--replay", metavar="FILE", help="--proposer replay: a JSONL file of proposals")
    p.add_argument("--base-url", help="--proposer openai: the endpoint, e.g. http://localhost:8080/v1 (or OPENAI_BASE_URL)")
    p.add_argument("--model", help="--proposer openai: the model name (or OPENAI_MODEL)")
    p.add_argument("--api-key", help="--proposer openai: the key (or OPENAI_API_KEY); never written to the run directory")
    p.add_argument("--timeout", type=float, default=120.0, help="--proposer openai: seconds per request (default 120)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config entry, e.g. --set inner.steps=100 --set refine.generations=2 (JSON values)")
    p.add_argument("--out", help="run directory (default runs/propose-PROPOSER-DATE-TIME); must be new or empty")
    p.add_argument("--resume", metavar="DIR", help="continue a killed run from its archive")
    p.add_argument("--stop-after", type=int, metavar="G", help="stop after G generations in all (resume later)")
    p.add_argument("--no-report", action="store_true", help="skip the final held-out report")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_propose)
