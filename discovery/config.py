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
    "strategy": {"name": "cma_es", "population": 8, "sigma": 0.1},  # sigma in units of each coordinate's box
    "loss": {"init": "sigmoid", "init_hparams": {}, "fields": None, "temporal": None},
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
    cfg = _merge(DEFAULTS, update)
    validate(cfg)
    return cfg


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
    validate(cfg)
    return cfg


def validate(cfg: dict[str, Any]) -> None:
    from discovery.strategies import STRATEGIES
    from search_spaces.mpo import FIELDS
    from search_spaces.registry import get_loss, zoo_names

    def need(name: str, ok: bool, allowed: str) -> None:
        if not ok:
            value = cfg
            for part in name.split("."):
                value = value[part]
            raise ValueError(f"config: {name} = {value!r}; allowed: {allowed}")

    need("seed", isinstance(cfg["seed"], int), "an integer")
    need("generations", isinstance(cfg["generations"], int) and cfg["generations"] >= 1, "an integer >= 1")
    need("seeds", isinstance(cfg["seeds"], int) and cfg["seeds"] >= 1, "an integer >= 1")
    need("chunk", isinstance(cfg["chunk"], int) and cfg["chunk"] >= 0, "an integer >= 0")
    need("eval_chunk", isinstance(cfg["eval_chunk"], int) and cfg["eval_chunk"] >= 0, "an integer >= 0")
    need("datasets", isinstance(cfg["datasets"], list) and len(cfg["datasets"]) >= 1
         and all(isinstance(d, str) for d in cfg["datasets"]), "a non-empty list of dataset directories")
    s = cfg["strategy"]
    need("strategy.name", s["name"] in STRATEGIES, ", ".join(STRATEGIES))
    need("strategy.population", isinstance(s["population"], int) and s["population"] >= 2, "an integer >= 2")
    need("strategy.sigma", isinstance(s["sigma"], (int, float)) and s["sigma"] > 0, "a number > 0")
    loss = cfg["loss"]
    get_loss(loss["init"])  # unknown names raise with the list of known ones
    from search_spaces.points import point_names

    need("loss.init", loss["init"] in point_names(), "a zoo loss that is an MPO point: " + ", ".join(point_names()))
    get_loss(loss["init"]).params(**loss["init_hparams"])
    for group in ("fields", "temporal"):
        value = loss[group]
        need(f"loss.{group}", value is None or (isinstance(value, list) and all(v in FIELDS for v in value)),
             "null (default) or a list of: " + ", ".join(FIELDS))
    for name in cfg["report"]["baselines"]:
        need("report.baselines", name in zoo_names(), "zoo losses: " + ", ".join(zoo_names()))
    sel = cfg["select"]
    need("select.top_k", isinstance(sel["top_k"], int) and not isinstance(sel["top_k"], bool) and sel["top_k"] >= 0,
         "an integer >= 0 (0: no re-evaluation)")
    need("select.seeds", isinstance(sel["seeds"], int) and not isinstance(sel["seeds"], bool) and sel["seeds"] >= 1,
         "an integer >= 1")
    need("select.episodes", isinstance(sel["episodes"], int) and not isinstance(sel["episodes"], bool)
         and sel["episodes"] >= 1, "an integer >= 1")
    need("report.seeds", isinstance(cfg["report"]["seeds"], int) and cfg["report"]["seeds"] >= 2, "an integer >= 2")
    need("report.episodes", isinstance(cfg["report"]["episodes"], int) and cfg["report"]["episodes"] >= 1,
         "an integer >= 1")
    InnerConfig(**cfg["inner"])
    need("eval.prompts", isinstance(cfg["eval"]["prompts"], int) and cfg["eval"]["prompts"] >= 1,
         "an integer >= 1 (held-out prompts per evaluation on text datasets)")
    EvalConfig(**{k: v for k, v in cfg["eval"].items() if k != "prompts"})
