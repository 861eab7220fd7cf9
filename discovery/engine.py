"""The one way to assemble inner runs: a config (datasets, `inner`, `eval`, `loss`) -> datasets, domains,
pure inner runs. The search, the report, `mpo eval`, the robustness study, the bench and the experiments
all build their runs here."""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable

import jax.numpy as jnp

from discovery.best_file import checked_vector, read_best
from discovery.config import make_config, resolve_path
from discovery.inner import InnerConfig, InnerStages, make_inner, make_inner_stages
from envs.dataset_io import PreferenceDataset, load_dataset
from envs.domain import Domain
from envs.worlds import make_domain
from search_spaces.mpo import MPOParams, mpo_loss
from search_spaces.points import mpo_point
from search_spaces.search_space import SearchSpace


@dataclasses.dataclass
class Engine:
    cfg: dict[str, Any]
    datasets: list[PreferenceDataset]
    init_point: MPOParams
    space: SearchSpace
    # episodes -> domains: a domain is pure (arrays and closures), so every run, report entry, tuning grid
    # and reference evaluation of this engine shares one instead of rebuilding it (arrays to device,
    # reference logits) per call
    _domains: dict = dataclasses.field(default_factory=dict, init=False, repr=False, compare=False)

    def runs(self, loss_fn: Callable = mpo_loss, episodes: int | None = None) -> list[Callable]:
        """One pure `run(loss_params, key[, lr_scale])` per dataset (`episodes` overrides the evaluation
        count)."""
        inner = InnerConfig(**self.cfg["inner"])
        return [make_inner(dom, loss_fn, inner) for dom in self.domains(episodes)]

    def stages(self, loss_fn: Callable = mpo_loss, episodes: int | None = None,
               label_flip: float = 0.0) -> list[InnerStages]:
        """The same inner runs split into (train, finish) stages, for the population engine (`label_flip`: each
        run flips each training label with that probability, its own realization; see InnerConfig)."""
        inner = InnerConfig(**self.cfg["inner"], label_flip=label_flip)
        return [make_inner_stages(dom, loss_fn, inner) for dom in self.domains(episodes)]

    def domains(self, episodes: int | None = None) -> list[Domain]:
        """One domain per dataset, of the dataset's own world (`episodes` overrides the evaluation count:
        MuJoCo episodes, or sampled responses per held-out prompt for text)."""
        if episodes not in self._domains:
            eval_cfg = dict(self.cfg["eval"])
            if episodes is not None:
                eval_cfg["episodes"] = episodes
            self._domains[episodes] = [make_domain(ds, eval_cfg) for ds in self.datasets]
        return self._domains[episodes]

    def with_inner(self, **changes: Any) -> "Engine":
        """The same datasets and search space with `inner` fields changed (e.g. steps=1), validated."""
        cfg = make_config({**self.cfg, "inner": {**self.cfg["inner"], **changes}})
        return dataclasses.replace(self, cfg=cfg)


def search_space(cfg: dict[str, Any]) -> SearchSpace:
    """The config's search space: its fields and temporal slopes around the `loss.init` point (or the final
    loss of the `loss.start_from` run)."""
    loss = cfg["loss"]
    kwargs = {k: tuple(loss[k]) for k in ("fields", "temporal") if loss[k] is not None}
    fixed = (run_point(loss["start_from"]) if loss.get("start_from")
             else mpo_point(loss["init"], **loss["init_hparams"]))
    return SearchSpace(fixed=fixed, **kwargs)


def run_point(run: str) -> MPOParams:
    """The final loss of a finished run: its best.json vector in its own search space."""
    path = resolve_path(run)
    cfg = make_config(json.loads((path / "config.json").read_text()))
    best_file = path / "best.json"
    if not best_file.exists():
        raise FileNotFoundError(f"loss.start_from: {best_file} does not exist (the first stage has not finished: "
                                f"resume it with `mpo search --resume {path}`)")
    space = search_space(cfg)
    # Checked as `discovery.load` checks it, against the first stage's own space (its config.json may predate
    # keys that load's strict schema requires, so its defaults are filled by make_config here).
    return space.from_vector(jnp.asarray(checked_vector(best_file, read_best(best_file), space)))


def build_engine(cfg: dict[str, Any]) -> Engine:
    """Load and validate the config's datasets (before anything is written) and its search space."""
    datasets = [load_dataset(resolve_path(d)) for d in cfg["datasets"]]
    space = search_space(cfg)
    return Engine(cfg, datasets, space.fixed, space)
