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
        eval_cfg = dict(self.cfg["eval"])
        if episodes is not None:
            eval_cfg["episodes"] = episodes
        inner = InnerConfig(**self.cfg["inner"])
        return [make_inner(make_mujoco_domain(ds, EvalConfig(**eval_cfg)), loss_fn, inner) for ds in self.datasets]

    def domains(self, episodes: int | None = None) -> list:
        eval_cfg = dict(self.cfg["eval"])
        if episodes is not None:
            eval_cfg["episodes"] = episodes
        return [make_mujoco_domain(ds, EvalConfig(**eval_cfg)) for ds in self.datasets]


def build_engine(cfg: dict[str, Any]) -> Engine:
    datasets = [load_dataset(resolve_path(d)) for d in cfg["datasets"]]
    loss = cfg["loss"]
    point = mpo_point(loss["init"], **loss["init_hparams"])
    kwargs = {k: tuple(loss[k]) for k in ("fields", "temporal") if loss[k] is not None}
    return Engine(cfg, datasets, point, SearchSpace(fixed=point, **kwargs))
