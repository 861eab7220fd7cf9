"""The `mpo` command line: a thin dispatcher over one module per command group.

Each command module exposes `register(subparsers)`, which adds its sub-command and sets
`func` on the parsed namespace; keeping groups in their own files lets them grow independently.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

# jaxlib 0.9 logs "Loading XLA:CPU AOT result. Target machine feature +prefer-no-gather is not supported on the
# host machine ... could lead to execution errors such as SIGILL" (C++ ERROR level, 2 lines per program) on
# every hit of the persistent compilation cache, even for a program this same machine compiled: its loader
# takes LLVM's tuning preferences for instruction-set features (jax-ml/jax#38445, openxla/xla#44565). The load
# succeeds (measured here: a cached 300-matmul program loads in 0.46 s against 5.0 s to compile), and our cache
# is keyed by host (envs/runtime.host_key), so the line is never true for it. jax reads the C++ log level once,
# when it is imported, hence here, before any command imports it, and only when the user has not chosen one
# (TF_CPP_MIN_LOG_LEVEL=0 or 2 shows those lines again). "1" is jax's own default, which `import jax` writes into
# os.environ, so every process started by one that imported jax (a test, a script) inherits it: it is not a choice.
if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "1") == "1" and "jax" not in sys.modules:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"

# One module per sub-command, in the order `mpo --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "discovery.cli.search",
    "discovery.cli.propose",
    "discovery.cli.eval",
    "discovery.cli.plot",
    "discovery.cli.export",
    "discovery.cli.losses",
    "discovery.cli.data",
    "discovery.cli.games",
    "discovery.cli.robustness",
    "discovery.cli.study",
    "discovery.cli.bench",
)


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mpo",
        description="Discover preference-optimization losses by evolution (Mirror Preference Optimization).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


INTERRUPTED = 130  # the shell's code for a process ended by SIGINT


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit status (2 for a user-facing error, printed as one line)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except (CLIError, ValueError, KeyError, FileNotFoundError, FileExistsError) as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"mpo: error: {msg}", file=sys.stderr)
        return 2
    except OSError as err:  # read-only, not a directory, disk full: the path and the reason, no traceback
        from discovery.outputs import describe_os_error

        print(f"mpo: error: {describe_os_error(err)}", file=sys.stderr)
        if argv is None and "orbax.checkpoint" in sys.modules:
            # A failed checkpoint write leaves orbax's background threads behind; at interpreter exit they print
            # tracebacks after this line (seen in the full-disk test: the write's ValueError again, once in 5
            # runs; "RuntimeError: Event loop is closed" every time the manager was closed after the failure).
            # Every file of the run is complete (the log line is written before its checkpoint), so this process
            # leaves now, as after a Ctrl-C. With this alone the full-disk test still failed 2 of 5 runs (the
            # loop errors come before this line too); with discovery/checkpoint.py's filter it passed 5 of 5.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(2)
        return 2
    except KeyboardInterrupt:  # commands with their own hint (mpo search) return INTERRUPTED themselves
        print("\nmpo: interrupted", file=sys.stderr)
        result = INTERRUPTED
    code = int(result or 0)
    if code == INTERRUPTED and argv is None:
        # This process is the command itself (the console script, `python -m discovery.cli`): leave now.
        # The interpreter's normal exit waits for XLA computations still in flight (measured: 32 s after a
        # Ctrl-C during a long generation); every file is already complete (discovery/interrupt.py).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
