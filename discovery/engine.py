"""Everything a search, an evaluation or a report builds from one config: datasets, domains, inner runs."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

from discovery.config import resolve_path
from discovery.inner import InnerConfig, InnerStages, make_inner, make_inner_stages
from discovery.mujoco_domain import EvalConfig, make_mujoco_domain
from discovery.text_domain import TextEvalConfig, make_text_domain
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

    def stages(self, loss_fn: Callable = mpo_loss, episodes: int | None = None) -> list[InnerStages]:
        """The same inner runs split into (train, finish) stages, for the population engine."""
        inner = InnerConfig(**self.cfg["inner"])
        return [make_inner_stages(dom, loss_fn, inner) for dom in self.domains(episodes)]

    def domains(self, episodes: int | None = None) -> list:
        """One domain per dataset, of the dataset's own kind (`episodes` overrides the evaluation count:
        MuJoCo episodes, or sampled responses per held-out prompt for text)."""
        eval_cfg = dict(self.cfg["eval"])
        if episodes is not None:
            eval_cfg["episodes"] = episodes
        return [make_domain(ds, eval_cfg) for ds in self.datasets]


def make_domain(ds: PreferenceDataset, eval_cfg: dict[str, Any]):
    """Dispatch on the dataset's domain (manifest "domain"; absent = mujoco)."""
    if ds.domain == "text":
        return make_text_domain(ds, TextEvalConfig.from_eval(eval_cfg))
    return make_mujoco_domain(ds, mujoco_eval_config(eval_cfg))


def mujoco_eval_config(eval_cfg: dict[str, Any]) -> EvalConfig:
    """The MuJoCo fields of the config's `eval` block (the others belong to other domains)."""
    names = {f.name for f in dataclasses.fields(EvalConfig)}
    return EvalConfig(**{k: v for k, v in eval_cfg.items() if k in names})


def search_space(cfg: dict[str, Any]) -> SearchSpace:
    """The config's search space: its fields and temporal slopes around the `loss.init` point."""
    loss = cfg["loss"]
    kwargs = {k: tuple(loss[k]) for k in ("fields", "temporal") if loss[k] is not None}
    return SearchSpace(fixed=mpo_point(loss["init"], **loss["init_hparams"]), **kwargs)


def build_engine(cfg: dict[str, Any]) -> Engine:
    datasets = [load_dataset(resolve_path(d)) for d in cfg["datasets"]]
    space = search_space(cfg)
    return Engine(cfg, datasets, space.fixed, space)
