"""The one dispatcher above the worlds: a dataset becomes the `Domain` of the world that made it."""
from __future__ import annotations

import dataclasses
from typing import Any

from envs.dataset_io import PreferenceDataset
from envs.domain import Domain
from envs.mujoco.domain import EvalConfig, make_mujoco_domain
from envs.text.domain import TextEvalConfig, make_text_domain


def make_domain(ds: PreferenceDataset, eval_cfg: dict[str, Any]) -> Domain:
    """Dispatch on the dataset's domain (manifest "domain"; absent = mujoco)."""
    if ds.domain == "text":
        return make_text_domain(ds, TextEvalConfig.from_eval(eval_cfg))
    return make_mujoco_domain(ds, mujoco_eval_config(eval_cfg))


def mujoco_eval_config(eval_cfg: dict[str, Any]) -> EvalConfig:
    """The MuJoCo fields of the config's `eval` block (the others belong to other domains)."""
    names = {f.name for f in dataclasses.fields(EvalConfig)}
    return EvalConfig(**{k: v for k, v in eval_cfg.items() if k in names})
