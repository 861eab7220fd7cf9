"""The process around the numbers: jax settings shared by the CLI and the tests (persistent compilation
cache, CPU device split) and the one `versions()` every run directory, dataset and report records."""
from __future__ import annotations

import hashlib
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

import jax

# The packages that determine the numbers (and this project itself), recorded wherever numbers are saved.
PACKAGES = ("jax", "jaxlib", "flax", "optax", "chex", "evosax", "brax", "mujoco", "mujoco-mjx",
            "orbax-checkpoint", "numpy", "scipy", "mpo-discovery")

DEFAULT_CACHE_DIR = Path(os.environ.get("MPO_JAX_CACHE", Path.home() / ".cache" / "mpo-discovery" / "jax"))


def cpu_info() -> tuple[str, frozenset[str]]:
    """CPU model and feature flags (Linux /proc/cpuinfo; elsewhere the platform module's model, no flags)."""
    model, flags = "", ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "Model", "cpu model") and not model:
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = value
    except OSError:
        pass
    return model or platform.processor(), frozenset(flags.split())


def _cpu_description() -> str:
    model, flags = cpu_info()
    return f"{model}|{' '.join(sorted(flags))}|{platform.machine()}"


def host_key() -> str:
    """The name of this host's cache subdirectory: machine, then a digest of the CPU model and feature flags,
    the jax and jaxlib versions and the XLA flags. A cached XLA:CPU program is compiled for the CPU it was
    made on; loaded on another (a shared home directory under SLURM) XLA warns "Target machine feature ...
    is not supported on the host machine ... could lead to execution errors such as SIGILL"."""
    parts = [_cpu_description(), metadata.version("jax"), metadata.version("jaxlib"),
             os.environ.get("XLA_FLAGS", ""), os.environ.get("JAX_PLATFORMS", "")]
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    return f"{platform.machine() or 'host'}-{digest}"


def enable_compilation_cache(path: Path | str | None = None) -> Path:
    """Turn on jax's persistent compilation cache in `path` (default DEFAULT_CACHE_DIR) / host_key(): MJX
    rollout programs take 10-30 s to compile on a 2-core CPU, and the same programs recur across CLI calls
    and test runs. Returns the directory used."""
    cache = (Path(path) if path is not None else DEFAULT_CACHE_DIR) / host_key()
    cache.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(cache))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    return cache


def check_cpu_devices(n: int, flag: str = "--cpu-devices") -> None:
    if n < 1:
        raise ValueError(f"{flag}: expected an integer >= 1, got {n}")


def use_cpu_devices(n: int, flag: str = "--cpu-devices") -> None:
    """Split the host CPU into `n` jax devices; call before jax touches a device. The population engine
    shards over every device, so on a multi-core CPU each device runs its share of candidates as its own
    stream of work (2 devices on 2 cores: 1.18-1.45x population throughput at P = 64 in BENCHMARKS.md). No effect on
    GPU/TPU runs, whose devices are the accelerators."""
    check_cpu_devices(n, flag)
    if n == 1:
        return
    try:
        jax.config.update("jax_num_cpu_devices", n)
    except RuntimeError as e:
        raise RuntimeError(f"{flag}: jax's CPU backend is already initialized ({e})") from None


# Instruction-set features XLA's CPU code generation uses, recorded so that two runs' machines can be told
# apart: walker2d clean made by the same command, seed and code on two of our machines gave different
# checksums (the pairs and the BC reference differ); a different CPU target is the likely cause (not isolated).
CPU_FEATURES = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")


def cpu() -> str:
    """The CPU model and which of CPU_FEATURES it has."""
    model, flags = cpu_info()
    return f"{model or 'unknown'} ({' '.join(f for f in CPU_FEATURES if f in flags)})"


def versions() -> dict[str, str]:
    """Python, platform, CPU, jax devices and the installed version of every package in PACKAGES."""
    out = {"python": sys.version.split()[0], "platform": platform.platform(), "cpu": cpu(),
           "devices": ", ".join(str(d) for d in jax.devices())}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    return out
