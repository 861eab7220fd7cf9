"""What `mpo export` exports: a point of the Mirror Preference Optimization family, read from a finished
run directory (best.json + config.json, read as JSON, validated, never executed) or named as a zoo loss
with `:key=value` hyperparameters, with its provenance.

The point is kept in the family's own coordinates (MPOParams base and slope, unconstrained, float64), so
the exported loss resolves the coefficients at tau exactly as search_spaces.mpo.resolve does.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from importlib import metadata
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from search_spaces.mpo import FIELDS, MPOParams, describe, mpo_params

CONFIG = "config.json"  # as discovery.run_dir writes it
BEST = "best.json"
VERSIONS = "versions.json"


@dataclasses.dataclass(frozen=True)
class ExportSource:
    """A family point in unconstrained coordinates (field -> float or list of floats) and its provenance."""

    base: dict[str, Any]
    slope: dict[str, Any]
    label: str  # one line: what was exported
    provenance: dict[str, Any]

    def params(self) -> MPOParams:
        """The point as float64 MPOParams (call under jax.enable_x64 to keep float64)."""
        from search_spaces.mpo import MPOCoeffs

        def coeffs(values):
            return MPOCoeffs(**{k: jnp.asarray(values[k], jnp.float64) for k in FIELDS})

        return MPOParams(base=coeffs(self.base), slope=coeffs(self.slope))


def _plain(params: MPOParams, part: str) -> dict[str, Any]:
    out = {}
    for name in FIELDS:
        arr = np.asarray(getattr(getattr(params, part), name), np.float64)
        out[name] = [float(v) for v in arr] if arr.ndim else float(arr)
    return out


def _exporter_versions() -> dict[str, str]:
    out = {}
    for name in ("mpo-discovery", "jax"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    return out


def _literal_safe(value: Any) -> Any:
    """JSON-like data that repr() writes as a Python literal: a non-finite float becomes its string."""
    if isinstance(value, dict):
        return {str(k): _literal_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_literal_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _from_params(params: MPOParams, label: str, provenance: dict[str, Any]) -> ExportSource:
    base, slope, provenance = _plain(params, "base"), _plain(params, "slope"), _literal_safe(provenance)
    for part, values in (("base", base), ("slope", slope)):
        for name, value in values.items():
            if not all(math.isfinite(v) for v in (value if isinstance(value, list) else [value])):
                raise ValueError(f"{label}: coefficient {part}.{name} = {value} is not finite")
    source = ExportSource(base, slope, label, provenance)
    with jax.enable_x64(True):
        p64 = source.params()
        provenance.update(coefficients_tau0=describe(p64, 0.0, compact=True),
                          coefficients_tau1=describe(p64, 1.0, compact=True))
    provenance["exported_with"] = _exporter_versions()
    return source


# --- a zoo loss or the family's default point ------------------------------------------------------

def from_loss(text: str) -> ExportSource:
    """'NAME[:key=value,...]' for a zoo loss that is an MPO point, or 'mpo' (the family's default point)."""
    from discovery.cli.losses import parse_loss_arg
    from search_spaces.points import mpo_point, point_names

    name, overrides = parse_loss_arg(text)
    with jax.enable_x64(True):
        if name == "mpo":  # the family's default point (DPO, beta = 0.1); parse_loss_arg refused any k=v
            params = mpo_params(dtype=jnp.float64)
        elif name not in point_names():
            raise ValueError(f"loss '{name}' is not a point of the Mirror Preference Optimization family, so it "
                             f"cannot be exported; exportable losses: {', '.join(point_names())}, mpo, or a run directory")
        else:
            params = mpo_point(name, dtype=jnp.float64, **overrides)
    provenance = {"source": "loss", "loss": text, "hyperparameters": overrides}
    return _from_params(params, f"zoo loss {text}", provenance)


# --- a run directory --------------------------------------------------------------------------------

def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: corrupt JSON ({err}); {what}") from None
    except OSError as err:
        raise ValueError(f"{path}: cannot be read ({err.strerror})") from None


def config_hash(cfg: dict[str, Any]) -> str:
    """sha256 of the config's canonical JSON (sorted keys, no whitespace): equal configs, equal hashes."""
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def from_run(path: str | Path) -> ExportSource:
    """The best loss of a finished search, read from its run directory (or its best.json) and validated."""
    from discovery.config import make_config
    from discovery.engine import search_space
    from discovery.run_dir import BEST_VERSION

    path = Path(path)
    run = path.parent if path.name == BEST else path
    if not run.is_dir():
        raise ValueError(f"{run}: not a run directory")
    if not (run / CONFIG).is_file():
        raise ValueError(f"{run}: not a run directory (no {CONFIG})")
    best_file = run / BEST
    if not best_file.is_file():
        raise ValueError(f"{run}: no {BEST} (the search has not finished); resume it with `mpo search --resume {run}`")
    cfg = _read_json(run / CONFIG, "not the config a search wrote")
    best = _read_json(best_file, "not the best.json a search wrote")
    if not isinstance(cfg, dict):
        raise ValueError(f"{run / CONFIG}: expected a JSON object, got {type(cfg).__name__}")
    try:
        cfg = make_config(cfg)
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{run / CONFIG}: invalid config ({err})") from None
    if not isinstance(best, dict):
        raise ValueError(f"{best_file}: expected a JSON object, got {type(best).__name__}")
    if best.get("format_version", BEST_VERSION) != BEST_VERSION:  # a file without one is version 1
        raise ValueError(f"{best_file}: format_version {best['format_version']!r} is not one this code reads "
                         f"({BEST_VERSION})")
    missing = [k for k in ("generation", "vector", "vector_names") if k not in best]
    if missing:
        raise ValueError(f"{best_file}: missing field(s) {', '.join(missing)}")
    space = search_space(cfg)
    vec = best["vector"]
    if not isinstance(vec, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vec):
        raise ValueError(f"{best_file}: 'vector' must be a list of numbers")
    if len(vec) != space.size:
        raise ValueError(f"{best_file}: 'vector' has {len(vec)} entries; the run's search space has {space.size}")
    names = space.names()
    bad = [i for i, v in enumerate(vec) if not math.isfinite(v)]
    if bad:
        raise ValueError(f"{best_file}: 'vector' entry {names[bad[0]]} = {vec[bad[0]]} is not finite")
    if best["vector_names"] != names:
        raise ValueError(f"{best_file}: 'vector_names' do not match the run's search space (config changed?)")
    lo, hi = space.bounds()
    tol = 1e-6 * np.maximum(1.0, np.maximum(np.abs(lo), np.abs(hi)))  # a float32 vector may round past the box
    out = [i for i, v in enumerate(vec) if v < lo[i] - tol[i] or v > hi[i] + tol[i]]
    if out:
        i = out[0]
        raise ValueError(f"{best_file}: 'vector' entry {names[i]} = {vec[i]:g} outside its box [{lo[i]:g}, {hi[i]:g}]")
    generation = best["generation"]
    # null: the final selection chose the start point or the ES mean, which no generation evaluated
    if generation is not None and (not isinstance(generation, int) or isinstance(generation, bool)):
        raise ValueError(f"{best_file}: 'generation' must be an integer or null, got {generation!r}")
    with jax.enable_x64(True):
        params = space.from_vector(jnp.asarray(vec, jnp.float64))
    versions = {}
    if (run / VERSIONS).is_file():
        versions = _read_json(run / VERSIONS, "not the versions.json a search wrote")
    provenance = {
        "source": "run",
        "run_dir": str(run.resolve()),
        "generation": generation,
        "fitness_during_search": best.get("fitness_during_search"),
        "chosen": best.get("chosen", "best search-time candidate"),
        "validation_fitness": best.get("validation_fitness"),
        "config_sha256": config_hash(cfg),
        "best_json_sha256": hashlib.sha256(best_file.read_bytes()).hexdigest(),
        "loss_init": f"{cfg['loss']['init']} {cfg['loss']['init_hparams'] or ''}".strip(),
        "datasets": cfg["datasets"],
        "run_versions": versions if isinstance(versions, dict) else {},
    }
    return _from_params(params, f"run {run}", provenance)


def resolve_source(text: str) -> ExportSource:
    """RUN_OR_LOSS: an existing path is a run directory (or its best.json); anything else a loss name."""
    if Path(text).exists():
        return from_run(text)
    name = text.partition(":")[0]
    from search_spaces.registry import REGISTRY

    if name not in REGISTRY and ("/" in text or text.endswith(".json")):
        raise ValueError(f"{text}: no such run directory (and not a loss name)")
    return from_loss(text)
