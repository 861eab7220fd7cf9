"""Process-wide jax settings shared by the CLI and the tests (persistent compilation cache)."""
from __future__ import annotations

import os
from pathlib import Path

import jax

DEFAULT_CACHE_DIR = Path(os.environ.get("MPO_JAX_CACHE", Path.home() / ".cache" / "mpo-discovery" / "jax"))


def enable_compilation_cache(path: Path | str | None = None) -> Path:
    """Turn on jax's persistent compilation cache: MJX rollout programs take 10-30 s to compile on a
    2-core CPU, and the same programs recur across CLI calls and test runs."""
    cache = Path(path) if path is not None else DEFAULT_CACHE_DIR
    cache.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(cache))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    return cache
