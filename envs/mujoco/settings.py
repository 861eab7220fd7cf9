"""Dataset generation config and the named settings of the diagnostic suite.

Every property of a dataset is a field of `DatasetConfig`; the whole config is written to the manifest's
`properties`, so a dataset says exactly how it was made. Named settings share the seed and the prompt /
response fields of `clean`, so with the same seed they hold the *same* prompts and responses and differ
only in what the setting changes (labels for noisy and high-temperature, response policies for mixed).
"""
from __future__ import annotations

import dataclasses
from typing import Any

from envs.mujoco import tasks
from envs.named_settings import named_config

# What a label compares (DatasetConfig.label_value).
LABEL_VALUES = ("segment", "return-to-go")
# A response level that is not an expert: the dataset's own reference policy (the BC token policy), sampled
# token by token, so the pairs are the reference's own behaviour, as an SFT model's samples are in LLM
# preference data. Its responses' level index is len(experts.levels).
REFERENCE = "reference"


@dataclasses.dataclass(frozen=True)
class DatasetConfig:
    task: str = "hopper"
    setting: str = "custom"
    seed: int = 0
    # sizes
    n_pairs: int = 512
    horizon: int = 48  # H: env steps per response (H * act_dim tokens at most)
    n_bins: int = 15  # K: action-token vocabulary per action dimension
    episode_length: int = tasks.DEFAULT_EPISODE_LENGTH
    # prompts: states after prompt_min_step..prompt_max_step steps of the prompt policy from a reset
    prompt_level: str = "q100"
    prompt_min_step: int = 0
    prompt_max_step: int = 150
    # responses: each response's policy is drawn uniformly (with replacement) from response_levels (expert
    # levels, or REFERENCE alone)
    response_levels: tuple[str, ...] = ("q50", "q75", "q100")
    # labels: Bradley-Terry on true segment returns, P(a > b) = sigmoid((R_a - R_b) / T); T = 0 picks the
    # higher return (ties at random); then each label flips with probability flip_eps
    bt_temperature: float = 0.0
    flip_eps: float = 0.0
    # what the label compares: "segment" = the response's own return (R above); "return-to-go" = segment
    # return plus a Monte-Carlo estimate of continuing from the segment's end state with the value_level
    # expert for value_horizon steps (0 = to the episode end, episode_length - prompt_step - horizon
    # steps), averaged over value_samples rollouts; a segment that terminated continues with 0. The
    # values used are stored as chosen_value / rejected_value (only when label_value != "segment").
    label_value: str = "segment"
    value_level: str = "q50"
    value_horizon: int = 0
    value_samples: int = 1
    # SFT split and reference policy (behaviour cloning with the action-token head)
    sft_level: str = "q50"
    sft_episodes: int = 32
    bc_hidden: tuple[int, ...] = (64, 64)
    bc_steps: int = 3000
    bc_batch: int = 256
    bc_learning_rate: float = 1e-3
    eval_episodes: int = 32

    def __post_init__(self) -> None:
        checks = [
            ("n_pairs", self.n_pairs >= 1, ">= 1"),
            ("horizon", self.horizon >= 1, ">= 1"),
            ("n_bins", self.n_bins >= 2, ">= 2"),
            ("episode_length", self.episode_length >= 1, ">= 1"),
            ("prompt_min_step", 0 <= self.prompt_min_step <= self.prompt_max_step,
             "0 <= prompt_min_step <= prompt_max_step"),
            ("response_levels", len(self.response_levels) >= 1, "at least one level"),
            ("response_levels", REFERENCE not in self.response_levels or self.response_levels == (REFERENCE,),
             f"expert levels, or {REFERENCE!r} alone (the reference policy's own samples)"),
            ("bt_temperature", self.bt_temperature >= 0.0, ">= 0"),
            ("flip_eps", 0.0 <= self.flip_eps <= 1.0, "in [0, 1]"),
            ("label_value", self.label_value in LABEL_VALUES, " | ".join(LABEL_VALUES)),
            ("value_horizon", self.value_horizon >= 0, ">= 0 (0 = to the episode end)"),
            ("value_samples", self.value_samples >= 1, ">= 1"),
            ("sft_episodes", self.sft_episodes >= 1, ">= 1"),
            ("bc_steps", self.bc_steps >= 1, ">= 1"),
            ("bc_batch", self.bc_batch >= 1, ">= 1"),
            ("eval_episodes", self.eval_episodes >= 1, ">= 1"),
        ]
        for name, ok, allowed in checks:
            if not ok:
                raise ValueError(f"{name}: got {getattr(self, name)!r}; allowed values: {allowed}")
        if self.task not in tasks.task_names():
            raise ValueError(f"task: unknown task {self.task!r}; allowed values: {', '.join(tasks.task_names())}")

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["response_levels"] = list(self.response_levels)
        d["bc_hidden"] = list(self.bc_hidden)
        return d

    @staticmethod
    def from_json(d: dict[str, Any]) -> "DatasetConfig":
        d = dict(d)
        d["response_levels"] = tuple(d["response_levels"])
        d["bc_hidden"] = tuple(d["bc_hidden"])
        return DatasetConfig(**d)


# The suite v2 recipe (experiments/reports/label_recipes.md): the reference's own behaviour (q50 prompts
# and responses, 48-step segments) labelled by return-to-go, the segment return plus the mean of 4
# Monte-Carlo continuations of 100 steps by the q50 expert from the segment's end (0 after a fall). With
# it tuned-ish DPO raised hopper's score by +24 to +43 normalized points (beta 0.3 / 0.1, 8 seeds), where
# on 48-step segment labels no loss beat the reference (they reward "faster now", which falls sooner).
V2 = {"prompt_level": "q50", "response_levels": ("q50",), "horizon": 48, "n_pairs": 1024,
      "label_value": "return-to-go", "value_level": "q50", "value_horizon": 100, "value_samples": 4}

# Named settings: field overrides on DatasetConfig defaults.
SETTINGS: dict[str, dict[str, Any]] = {
    "clean": dict(V2),
    "noisy-0.1": {**V2, "flip_eps": 0.1},
    "noisy-0.2": {**V2, "flip_eps": 0.2},
    "noisy-0.3": {**V2, "flip_eps": 0.3},
    "noisy-0.4": {**V2, "flip_eps": 0.4},
    # Responses from a poor (q10) and the best (q100) policy: a quarter of pairs are two poor responses, so
    # the chosen response is often bad in absolute terms.
    "mixed-quality": {**V2, "response_levels": ("q10", "q100")},
    # T = 12, about the median |value gap| of hopper clean (12.6): the median pair is labelled right with
    # probability sigmoid(1.05) = 0.74 instead of 1.
    "high-temperature": {**V2, "bt_temperature": 12.0},
    # The suite v1 settings on 48-step segment labels from expert-level prompts, kept as short-horizon
    # variants (not shipped; make them with `mpo data make`): measured on hopper, no loss fine-tuned on them
    # beats the reference policy (the suite issue: reference 57.3 +- 6.3, nine losses 10.7 to 61.0).
    "h48-clean": {},
    "h48-noisy-0.1": {"flip_eps": 0.1},
    "h48-noisy-0.2": {"flip_eps": 0.2},
    "h48-noisy-0.3": {"flip_eps": 0.3},
    "h48-mixed-quality": {"response_levels": ("q10", "q100")},
    "h48-high-temperature": {"bt_temperature": 10.0},
    # The reference's own behaviour (q50 prompts and responses) judged over 150 steps, long enough that
    # labels mostly mean "stays up longer": DPO raises hopper's return here, but 20% label flips leave its
    # gain unchanged, and on walker2d clean labels lower it (experiments/reports/label_recipes.md).
    "on-policy-long": {"prompt_level": "q50", "response_levels": ("q50",), "horizon": 150},
    # h48-clean with 25-step responses: the probe (32 pairs x 25 steps) whose vmap-over-loop speedup
    # `mpo bench` reports as config `probe`
    "clean-h25": {"horizon": 25},
}
# The datasets that ship in envs/data/TASK/ (the others are made by `mpo data make`): every dataset of the
# suite table (its flips-EPS settings train on clean's), hopper's one-realization noisy-EPS and two variants.
# 29.2 MB for hopper and 13.6 MB for walker2d, under the 60 MB budget.
SHIPPED: dict[str, tuple[str, ...]] = {
    "hopper": ("clean", "noisy-0.1", "noisy-0.2", "noisy-0.3", "noisy-0.4", "mixed-quality", "high-temperature",
               "on-policy-long", "clean-h25"),
    "walker2d": ("clean", "mixed-quality", "high-temperature"),
}


def setting_names() -> tuple[str, ...]:
    return tuple(SETTINGS)


# A task's own v2 recipe, on the settings whose responses are V2's (clean, noisy-EPS, high-temperature;
# mixed-quality keeps its q10 / q100 experts). walker2d samples both responses from the dataset's own BC
# reference: on its q50-expert responses learning the labels lowers the return (4,096 pairs: -21.0 ± 5.9;
# q50 / q100 responses: -33.3 ± 6.2), while on reference samples DPO gains +20.2 ± 5.4 and tuned DPO's flips
# curve falls +17.0 -> -6.9 (experiments/reports/walker2d_signal/). hopper keeps q50 responses (its
# reference-sample recipe gave +28.4 ± 9.0 beside +39.4 ± 9.5, unpaired).
TASK_RECIPES: dict[str, dict[str, Any]] = {"walker2d": {"response_levels": (REFERENCE,)}}
# the settings that keep every V2 field (their own changes are labels only)
V2_RESPONSES = tuple(name for name, kw in SETTINGS.items() if all(kw.get(k) == v for k, v in V2.items()))


def task_settings(task: str) -> dict[str, dict[str, Any]]:
    """SETTINGS as `task` makes them: its own recipe (TASK_RECIPES) on the V2_RESPONSES settings."""
    recipe = TASK_RECIPES.get(task, {})
    return {name: {**kw, **recipe} if name in V2_RESPONSES else kw for name, kw in SETTINGS.items()}


def make_config(task: str, setting: str, **overrides: Any) -> DatasetConfig:
    """Config of a named setting as `task` makes it, with optional field overrides (None values are ignored)."""
    return named_config(DatasetConfig, task_settings(task), setting, overrides, task=task)
