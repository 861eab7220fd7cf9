"""Search configuration: a JSON file plus `--set key=value` overrides, validated with clear errors."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from discovery.inner import InnerConfig
from envs.mujoco.domain import EvalConfig

REPO = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO / "experiments" / "configs"

DEFAULTS: dict[str, Any] = {
    "name": "search",
    "seed": 0,
    "datasets": ["envs/data/hopper/clean"],  # one or several; fitness is the mean over them
    "generations": 10,
    "seeds": 2,  # inner seeds per candidate (fitness = mean over seeds and datasets)
    "chunk": 0,  # candidates per device trained at a time (lax.map batch size); 0 = all at once
    "eval_chunk": 0,  # candidates per device evaluated at a time; 0 = all at once (widest physics batch)
    # sigma in units of each coordinate's box; control: the start evaluated on every generation's keys;
    # trust_region: null = one sigma for every coordinate, r = per-coordinate steps scaled so that a one-sigma
    # move changes the loss's gradient direction by about r (discovery/trust_region.py)
    "strategy": {"name": "cma_es", "population": 8, "sigma": 0.1, "control": True, "trust_region": None},
    # start_from: a finished run directory whose final loss is the start and the fixed point (a staged search:
    # a subspace first, then the full vector from its result); then init and init_hparams are not used
    "loss": {"init": "sigmoid", "init_hparams": {}, "fields": None, "temporal": None, "start_from": None},
    "inner": {"steps": 100, "batch_size": 32, "learning_rate": 1e-3, "max_grad_norm": 1.0},
    # MuJoCo: episodes per evaluation; text: sampled responses per held-out prompt, `prompts` of them
    # (episode_length must be null and greedy false for text datasets)
    "eval": {"episodes": 2, "episode_length": None, "heldout_fraction": 0.125, "greedy": False, "prompts": 256},
    # the final loss: the top_k candidates of the run, the ES mean and the start re-evaluated on `seeds` fresh
    # validation seeds x `episodes`, the best of them chosen (top_k 0: the best search-time candidate)
    "select": {"top_k": 8, "seeds": 4, "episodes": 4},
    "report": {"baselines": ["sigmoid", "ipo", "simpo", "discopop"], "seeds": 4, "episodes": 4},
}


def resolve_path(p: str) -> Path:
    path = Path(p)
    return path if path.is_absolute() or path.exists() else REPO / path


def _merge(base: dict, update: dict, where: str = "") -> dict:
    out = copy.deepcopy(base)
    for key, value in update.items():
        if key not in base:
            raise ValueError(f"config: unknown key '{where}{key}'; allowed: {', '.join(base)}")
        if isinstance(base[key], dict) and key not in ("init_hparams",):
            if not isinstance(value, dict):
                raise ValueError(f"config: '{where}{key}' must be a mapping, got {value!r}")
            out[key] = _merge(base[key], value, f"{where}{key}.")
        else:
            out[key] = value
    return out


def parse_override(text: str) -> tuple[list[str], Any]:
    """'a.b=value' -> (['a', 'b'], value); value parsed as JSON when it is JSON, else kept as a string."""
    key, eq, raw = text.partition("=")
    if not eq or not key:
        raise ValueError(f"--set: expected key=value, got '{text}'")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.split("."), value


def make_config(update: dict[str, Any]) -> dict[str, Any]:
    """Defaults <- `update` (a nested mapping of config keys), validated: the config of a run built in code
    (the robustness study, the experiments) goes through the same checks as a config file."""
    return validate(_merge(DEFAULTS, update))


def load_config(path: str | Path | None, overrides: list[str] = ()) -> dict[str, Any]:
    """Defaults <- config file (a path, or a name in experiments/configs) <- overrides; then validated."""
    cfg = copy.deepcopy(DEFAULTS)
    if path is not None:
        p = Path(path)
        if not p.exists() and (CONFIG_DIR / f"{path}.json").exists():
            p = CONFIG_DIR / f"{path}.json"
        if not p.exists():
            known = ", ".join(sorted(f.stem for f in CONFIG_DIR.glob("*.json")))
            raise FileNotFoundError(f"--config: {path} not found (named configs: {known})")
        try:
            data = json.loads(p.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"--config: {p} is not valid JSON ({err})") from None
        cfg = _merge(cfg, data)
    for text in overrides:
        keys, value = parse_override(text)
        update: Any = value
        for k in reversed(keys):
            update = {k: update}
        cfg = _merge(cfg, update)
    return validate(cfg)


def validate(cfg: dict[str, Any]) -> dict[str, Any]:
    """The typed, strict schema (discovery/schema.py), then what only the loss's and the domains' own checks
    know (hyperparameter ranges, inner-run and evaluation fields); returns the config with its types fixed."""
    from discovery.schema import check
    from search_spaces.registry import get_loss

    cfg = check(cfg)
    get_loss(cfg["loss"]["init"]).params(**cfg["loss"]["init_hparams"])
    InnerConfig(**cfg["inner"])
    EvalConfig(**{k: v for k, v in cfg["eval"].items() if k != "prompts"})
    return cfg
