"""Everything a search, an evaluation or a report builds from one config: datasets, domains, inner runs."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

from discovery.config import resolve_path
from discovery.inner import InnerConfig, make_inner
from discovery.mujoco_domain import EvalConfig, make_mujoco_domain
from envs.dataset_io import PreferenceDataset, load_dataset
from search_spaces.mpo import MPOParams, mpo_loss
from search_spaces.points import mpo_point
from search_spaces.search_space import SearchSpace


@dataclasses.dataclass
class Engine:
    cfg: dict[str, Any]
    datasets: list[PreferenceDataset]
    init_point: MPOParams
    space: SearchSpace

    def runs(self, loss_fn: Callable = mpo_loss, episodes: int | None = None) -> list[Callable]:
        """One pure `run(loss_params, key)` per dataset (`episodes` overrides the evaluation count)."""
        inner = InnerConfig(**self.cfg["inner"])
        return [make_inner(dom, loss_fn, inner) for dom in self.domains(episodes)]

    def domains(self, episodes: int | None = None) -> list:
        """One MuJoCo domain per dataset (`episodes` overrides the evaluation count)."""
        eval_cfg = dict(self.cfg["eval"])
        if episodes is not None:
            eval_cfg["episodes"] = episodes
        return [make_mujoco_domain(ds, EvalConfig(**eval_cfg)) for ds in self.datasets]


def search_space(cfg: dict[str, Any]) -> SearchSpace:
    """The config's search space: its fields and temporal slopes around the `loss.init` point."""
    loss = cfg["loss"]
    kwargs = {k: tuple(loss[k]) for k in ("fields", "temporal") if loss[k] is not None}
    return SearchSpace(fixed=mpo_point(loss["init"], **loss["init_hparams"]), **kwargs)


def build_engine(cfg: dict[str, Any]) -> Engine:
    datasets = [load_dataset(resolve_path(d)) for d in cfg["datasets"]]
    space = search_space(cfg)
    return Engine(cfg, datasets, space.fixed, space)
