"""Text dataset config and its named settings (clean, noisy, length-biased, mixed-quality).

Like envs/mujoco/settings.py for MuJoCo: every property is a field, the whole config goes to the manifest's
`properties`, and the settings share the seed, so with the same seed they hold the same prompts, the same
SFT policy and (except mixed-quality, which changes the response policies) the same responses; they differ
only in what the setting changes.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from envs.named_settings import named_config
from envs.text.task import Demonstrator, TextTask

# Mixed-quality demonstrations for SFT: a careful, an average and a sloppy, rambling writer.
DEMONSTRATORS: tuple[Demonstrator, ...] = (
    Demonstrator("good", p_correct=0.9, p_truncate=0.05, mean_extra=0.3),
    Demonstrator("average", p_correct=0.6, p_truncate=0.2, mean_extra=1.5),
    Demonstrator("poor", p_correct=0.25, p_truncate=0.3, mean_extra=4.0),
)


@dataclasses.dataclass(frozen=True)
class TextDatasetConfig:
    task: str = "text"
    setting: str = "custom"
    seed: int = 0
    # the task (see envs/text/task.py)
    vocab: int = 12
    prompt_len: int = 4
    max_len: int = 12
    extra_cost: float = 0.1
    task_seed: int = 0
    # sizes
    n_pairs: int = 2048
    n_sft: int = 4096  # demonstrations, drawn evenly from DEMONSTRATORS
    # responses: each response is an SFT sample at a temperature drawn uniformly from response_temperatures
    response_temperatures: tuple[float, ...] = (1.0,)
    # labels: Bradley-Terry on the labeller's reward r* + length_bias * len(y), temperature T (0 = the
    # higher reward wins, ties a fair coin), then each label flips with probability flip_eps
    length_bias: float = 0.0
    bt_temperature: float = 0.0
    flip_eps: float = 0.0
    # SFT policy
    d_model: int = 32
    n_layers: int = 2
    n_heads: int = 2
    d_mlp: int = 64
    sft_steps: int = 1500
    sft_batch: int = 128
    sft_learning_rate: float = 3e-3
    eval_prompts: int = 4096  # samples that measure the SFT and random policies' true reward

    def __post_init__(self) -> None:
        checks = [
            ("task", self.task == "text", "text"),
            ("n_pairs", self.n_pairs >= 1, ">= 1"),
            ("n_sft", self.n_sft >= 1, ">= 1"),
            ("response_temperatures", len(self.response_temperatures) >= 1
             and all(t > 0 for t in self.response_temperatures), "at least one temperature, all > 0"),
            ("length_bias", self.length_bias == self.length_bias, "a number"),
            ("bt_temperature", self.bt_temperature >= 0.0, ">= 0"),
            ("flip_eps", 0.0 <= self.flip_eps <= 1.0, "in [0, 1]"),
            ("sft_steps", self.sft_steps >= 1, ">= 1"),
            ("sft_batch", self.sft_batch >= 1, ">= 1"),
            ("sft_learning_rate", self.sft_learning_rate > 0, "> 0"),
            ("eval_prompts", self.eval_prompts >= 1, ">= 1"),
        ]
        for name, ok, allowed in checks:
            if not ok:
                raise ValueError(f"{name}: got {getattr(self, name)!r}; allowed values: {allowed}")
        self.text_task()  # validates vocab / prompt_len / max_len / extra_cost

    def text_task(self) -> TextTask:
        return TextTask(self.vocab, self.prompt_len, self.max_len, self.extra_cost, self.task_seed)

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["response_temperatures"] = list(self.response_temperatures)
        d["demonstrators"] = [demo.to_json() for demo in DEMONSTRATORS]
        return d

    @staticmethod
    def from_json(d: dict[str, Any]) -> "TextDatasetConfig":
        d = {k: v for k, v in d.items() if k != "demonstrators"}
        d["response_temperatures"] = tuple(d["response_temperatures"])
        return TextDatasetConfig(**d)


SETTINGS: dict[str, dict[str, Any]] = {
    "clean": {},
    "noisy": {"flip_eps": 0.2},
    # The labeller pays 0.15 per content token while the true reward charges 0.1 per token beyond the
    # targets: between two responses of similar quality it prefers the longer one (verbosity bias), and
    # soft labels (T = 0.05) make close calls coin flips, as with human raters.
    "length-biased": {"length_bias": 0.15, "bt_temperature": 0.05},
    # Responses from the SFT policy at temperature 1 and at 2.5 (near-random text): a quarter of the pairs
    # are two poor responses, so the chosen one is often bad in absolute terms.
    "mixed-quality": {"response_temperatures": (1.0, 2.5)},
}


def setting_names() -> tuple[str, ...]:
    return tuple(SETTINGS)


def make_config(setting: str, **overrides: Any) -> TextDatasetConfig:
    """Config of a named text setting with optional field overrides (None values are ignored)."""
    return named_config(TextDatasetConfig, SETTINGS, setting, overrides, kind="text setting")
